//! Configuration → connector instances: the one place that matches on connector kinds.

use crate::activemq::Protocol;
use crate::config::{PipeConfig, SourceConfig, TargetConfig};
use sluice_amqp::{RabbitMqSink, RabbitMqSource};
use sluice_core::config::ConfigError;
use sluice_core::event::{Envelope, Format, SourceKind};
use sluice_core::metrics::Metrics;
use sluice_core::pattern::Filter;
use sluice_core::runner::{Pipe, PipeSettings};
use sluice_core::sink::Sink;
use sluice_core::source::Source;
use sluice_core::status::PipeStatus;
use sluice_http::{EnrichmentConfig, HttpEnricher, HttpSink};
use sluice_openwire::{OpenWireSink, OpenWireSource};
use sluice_sqs::{SqsSink, SqsSource};
use sluice_stomp::{StompSink, StompSource};
use std::sync::Arc;
use std::time::Duration;

/// Build a pipe from a validated document. Nothing connects here.
pub fn assemble(cfg: &PipeConfig, metrics: &Metrics) -> Result<Pipe, Vec<ConfigError>> {
    let (kind, batch_size, window, concurrency) = match &cfg.source {
        SourceConfig::Rabbitmq(_) => (
            SourceKind::Rmq,
            cfg.batch.size.unwrap_or(100),
            cfg.batch.window.map_or(Duration::from_millis(500), |w| w.0),
            cfg.concurrency.unwrap_or(1),
        ),
        SourceConfig::Activemq(_) => (
            SourceKind::Mq,
            cfg.batch.size.unwrap_or(100),
            cfg.batch.window.map_or(Duration::from_millis(500), |w| w.0),
            cfg.concurrency.unwrap_or(5),
        ),
        SourceConfig::Sqs(_) => (
            SourceKind::Sqs,
            cfg.batch.size.unwrap_or(10),
            cfg.batch.window.map_or(Duration::ZERO, |w| w.0),
            cfg.concurrency.unwrap_or(5),
        ),
    };
    let settings = PipeSettings {
        batch_size: batch_size as usize,
        window,
        max_bytes: usize::try_from(cfg.batch.max_bytes.0).unwrap_or(usize::MAX),
        concurrency: concurrency as usize,
        max_attempts: cfg.retry.max_attempts,
        backoff_initial: cfg.retry.backoff.initial.0,
        backoff_max: cfg.retry.backoff.max.0,
        ordered: cfg.source.is_sqs_fifo(),
    };
    let (source, arn): (Arc<dyn Source>, String) = match &cfg.source {
        SourceConfig::Rabbitmq(c) => {
            let prefetch = (2 * batch_size * concurrency).min(u32::from(u16::MAX)) as u16;
            let s = RabbitMqSource::new(c, &cfg.name, prefetch)?;
            let arn = c
                .event_source_arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:mq:local:000000000000:broker:{}", s.host()));
            (Arc::new(s), arn)
        }
        SourceConfig::Activemq(c) => {
            let prefetch = 2 * batch_size * concurrency;
            let url_error = |e| vec![ConfigError::new("source.activemq.url", e)];
            let (s, host): (Arc<dyn Source>, String) = match c.protocol {
                Protocol::Openwire => {
                    let s = OpenWireSource::new(&c.openwire(), prefetch).map_err(url_error)?;
                    let host = s.host().to_owned();
                    (Arc::new(s), host)
                }
                Protocol::Stomp => {
                    let s = StompSource::new(&c.stomp(), prefetch).map_err(url_error)?;
                    let host = s.host().to_owned();
                    (Arc::new(s), host)
                }
            };
            let arn = c
                .event_source_arn
                .clone()
                .unwrap_or_else(|| format!("arn:aws:mq:local:000000000000:broker:{host}"));
            (s, arn)
        }
        SourceConfig::Sqs(c) => {
            // Enough receives of 10 to fill `concurrency` batches.
            let receives = (batch_size * concurrency).div_ceil(10).clamp(1, 20) as usize;
            let s = SqsSource::new(c, receives)
                .map_err(|e| vec![ConfigError::new("source.sqs.queue_url", e)])?;
            let arn = s.arn().to_owned();
            (Arc::new(s), arn)
        }
    };
    let format = match &cfg.target {
        TargetConfig::Http(h) => h.format,
        _ => Format::Lambda,
    };
    let envelope = Envelope::new(kind, format, &arn);
    let sink = build_sink(&cfg.target, "target", cfg, kind, &arn, settings.concurrency)?;
    let dead_letter = match &cfg.dead_letter {
        Some(d) => Some(build_sink(
            d,
            "dead_letter",
            cfg,
            kind,
            &arn,
            settings.concurrency,
        )?),
        None => None,
    };
    let filter = match &cfg.filter {
        Some(sources) => {
            let mut patterns = Vec::with_capacity(sources.len());
            for (i, p) in sources.iter().enumerate() {
                patterns.push(
                    p.compile()
                        .map_err(|e| vec![ConfigError::new(format!("filter[{i}]"), e)])?,
                );
            }
            Some(Arc::new(Filter::new(patterns, kind)))
        }
        None => None,
    };
    let enricher = match &cfg.enrichment {
        Some(EnrichmentConfig::Http(h)) => Some(Arc::new(
            HttpEnricher::new(h, kind, &arn, settings.concurrency)
                .map_err(|e| vec![ConfigError::new("enrichment.http", e)])?,
        )
            as Arc<dyn sluice_core::enrich::Enricher>),
        None => None,
    };
    let metrics = metrics.pipe(&cfg.name);
    Ok(Pipe {
        filter,
        enricher,
        status: Arc::new(PipeStatus::with_up_gauge(metrics.up.clone())),
        name: cfg.name.as_str().into(),
        source,
        sink,
        dead_letter,
        envelope,
        settings,
        metrics,
    })
}

fn build_sink(
    t: &TargetConfig,
    path: &str,
    cfg: &PipeConfig,
    kind: SourceKind,
    arn: &str,
    pool: usize,
) -> Result<Arc<dyn Sink>, Vec<ConfigError>> {
    Ok(match t {
        TargetConfig::Http(h) => {
            let env = Envelope::new(kind, h.format, arn);
            Arc::new(
                HttpSink::new(h, env, cfg.report_batch_item_failures, pool)
                    .map_err(|e| vec![ConfigError::new(format!("{path}.http"), e)])?,
            )
        }
        TargetConfig::Rabbitmq(r) => Arc::new(RabbitMqSink::new(
            r,
            &format!("{path}.rabbitmq"),
            &cfg.name,
        )?),
        TargetConfig::Activemq(a) => {
            let url_error = |e| vec![ConfigError::new(format!("{path}.activemq.url"), e)];
            match a.protocol {
                Protocol::Openwire => {
                    Arc::new(OpenWireSink::new(&a.openwire()).map_err(url_error)?)
                }
                Protocol::Stomp => Arc::new(StompSink::new(&a.stomp()).map_err(url_error)?),
            }
        }
        TargetConfig::Sqs(s) => Arc::new(
            SqsSink::new(s)
                .map_err(|e| vec![ConfigError::new(format!("{path}.sqs.queue_url"), e)])?,
        ),
    })
}
