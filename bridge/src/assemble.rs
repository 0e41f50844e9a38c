//! Configuration → connector instances: the one place that matches on connector kinds. Each
//! arm names a connector; what it defaults to, what its events look like and how it is built
//! are the connector's (`sluice_core::connector`).

use crate::config::{PipeConfig, SourceConfig, TargetConfig};
use sluice_activemq::ActiveMq;
use sluice_amqp::RabbitMq;
use sluice_core::config::ConfigError;
use sluice_core::connector::{SinkConnector, SinkContext, Sizing, SourceConnector};
use sluice_core::enrich::Enricher;
use sluice_core::event::{Envelope, EventShape, Format};
use sluice_core::metrics::Metrics;
use sluice_core::pattern::Filter;
use sluice_core::runner::{Pipe, PipeOptions, PipeSettings};
use sluice_core::sink::Sink;
use sluice_core::status::PipeStatus;
use sluice_core::template::{Template, TemplateContext, TemplateStage};
use sluice_http::{EnrichmentConfig, Http, HttpEnricher, Lambda, RuntimeApi};
use sluice_sqs::Sqs;
use std::sync::Arc;

/// Build a pipe from a validated document. Nothing connects here.
pub(crate) fn assemble(cfg: &PipeConfig, metrics: &Metrics) -> Result<Pipe, Vec<ConfigError>> {
    match &cfg.source {
        SourceConfig::Rabbitmq(c) => assemble_with::<RabbitMq>(c, cfg, metrics),
        SourceConfig::Activemq(c) => assemble_with::<ActiveMq>(c, cfg, metrics),
        SourceConfig::Sqs(c) => assemble_with::<Sqs>(c, cfg, metrics),
    }
}

fn assemble_with<C: SourceConnector>(
    source_cfg: &C::Config,
    cfg: &PipeConfig,
    metrics: &Metrics,
) -> Result<Pipe, Vec<ConfigError>> {
    let defaults = C::DEFAULTS;
    let sizing = Sizing {
        batch_size: cfg.batch.size.unwrap_or(defaults.batch_size),
        concurrency: cfg.concurrency.unwrap_or(defaults.concurrency),
    };
    let built = C::build_source(source_cfg, &cfg.name, sizing)?;
    let settings = PipeSettings {
        batch_size: sizing.batch_size as usize,
        window: cfg.batch.window.map_or(defaults.window, |w| w.0),
        max_bytes: usize::try_from(cfg.batch.max_bytes.0).unwrap_or(usize::MAX),
        concurrency: sizing.concurrency as usize,
        max_attempts: cfg.retry.max_attempts,
        backoff_initial: cfg.retry.backoff.initial.0,
        backoff_max: cfg.retry.backoff.max.0,
        ordered: built.ordered,
    };
    let arn = built.event_source_arn.as_str();
    let template = cfg.target.input_template();
    let sink_context = |path: &'static str| SinkContext {
        templated: template.is_some() && path == "target",
        path,
        pipe: &cfg.name,
        shape: C::SHAPE,
        event_source_arn: arn,
        report_batch_item_failures: cfg.report_batch_item_failures,
        pool: settings.concurrency,
    };
    let sink = build_sink(&cfg.target, &sink_context("target"))?;
    let dead_letter = match &cfg.dead_letter {
        Some(d) => Some(build_sink(d, &sink_context("dead_letter"))?),
        None => None,
    };
    let filter = match &cfg.filter {
        Some(sources) => Some(Arc::new(build_filter(sources, &C::SHAPE)?)),
        None => None,
    };
    let enricher = match &cfg.enrichment {
        Some(EnrichmentConfig::Http(h)) => Some(Arc::new(
            HttpEnricher::new(h, C::SHAPE, arn, settings.concurrency)
                .map_err(|e| vec![ConfigError::new("enrichment.http", e)])?,
        ) as Arc<dyn Enricher>),
        None => None,
    };
    let template = match template {
        Some(text) => Some(Arc::new(TemplateStage::new(
            Template::compile(text).map_err(|e| {
                vec![ConfigError::new(
                    format!("target.{}.input_template", cfg.target.kind()),
                    format!("invalid template: {e}"),
                )]
            })?,
            TemplateContext {
                pipe_name: cfg.name.clone(),
                pipe_arn: format!("arn:sluice:pipes:::pipe/{}", cfg.name),
                source_arn: arn.to_owned(),
                enrichment_arn: enricher.as_ref().map(|e| e.describe()).unwrap_or_default(),
                target_arn: cfg.target.arn(),
            },
            C::SHAPE,
        ))),
        None => None,
    };
    let metrics = metrics.pipe(&cfg.name);
    Ok(Pipe {
        options: PipeOptions {
            template,
            rate_limit: cfg.rate_limit,
            log: cfg.log.clone(),
            filtered_to_dead_letter: cfg.on_filtered == crate::config::OnFiltered::DeadLetter,
        },
        filter,
        enricher,
        status: Arc::new(PipeStatus::with_up_gauge(metrics.up.clone())),
        name: cfg.name.as_str().into(),
        envelope: Envelope::new(C::SHAPE, target_format(&cfg.target), arn),
        source: built.source,
        sink,
        dead_letter,
        settings,
        metrics,
    })
}

fn build_filter(
    sources: &[crate::config::PatternSource],
    shape: &EventShape,
) -> Result<Filter, Vec<ConfigError>> {
    let mut patterns = Vec::with_capacity(sources.len());
    for (i, p) in sources.iter().enumerate() {
        patterns.push(
            p.compile()
                .map_err(|e| vec![ConfigError::new(format!("filter[{i}]"), e)])?,
        );
    }
    Ok(Filter::new(patterns, shape))
}

fn target_format(t: &TargetConfig) -> Format {
    match t {
        TargetConfig::Http(c) => Http::format(c),
        TargetConfig::Lambda(c) => Lambda::format(c),
        TargetConfig::RuntimeApi(c) => RuntimeApi::format(c),
        TargetConfig::Rabbitmq(c) => RabbitMq::format(c),
        TargetConfig::Sqs(c) => Sqs::format(c),
        TargetConfig::Activemq(c) => ActiveMq::format(c),
    }
}

fn build_sink(t: &TargetConfig, ctx: &SinkContext<'_>) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
    match t {
        TargetConfig::Http(c) => Http::build_sink(c, ctx),
        TargetConfig::Lambda(c) => Lambda::build_sink(c, ctx),
        TargetConfig::RuntimeApi(c) => RuntimeApi::build_sink(c, ctx),
        TargetConfig::Rabbitmq(c) => RabbitMq::build_sink(c, ctx),
        TargetConfig::Sqs(c) => Sqs::build_sink(c, ctx),
        TargetConfig::Activemq(c) => ActiveMq::build_sink(c, ctx),
    }
}
