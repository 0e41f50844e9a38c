//! `target.lambda` as a sink: one signed `Invoke` per batch.

use super::config::{LambdaTargetConfig, parse_function_name};
use super::sign::Signer;
use crate::endpoint::Endpoint;
use crate::response::batch_item_failures;
use async_trait::async_trait;
use sluice_core::config::Secret;
use sluice_core::event::Envelope;
use sluice_core::record::Record;
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Largest function answer read: Lambda's own response limit.
const MAX_RESPONSE: usize = 6 * 1024 * 1024;

/// Path characters kept as they are in the function name segment (the SDK's label encoding:
/// everything else, `:` included, is percent-encoded).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The endpoint and signer, made on the first batch (constructors do no I/O, and the Region
/// may come from the AWS environment).
struct Ready {
    endpoint: Endpoint,
    signer: Signer,
}

/// The Lambda target of one pipe.
pub struct LambdaSink {
    cfg: LambdaTargetConfig,
    envelope: Envelope,
    report_batch_item_failures: bool,
    pool: usize,
    ready: OnceCell<Ready>,
}

impl LambdaSink {
    /// Build from validated configuration; no I/O.
    pub fn new(
        cfg: &LambdaTargetConfig,
        envelope: Envelope,
        report_batch_item_failures: bool,
        pool: usize,
    ) -> Self {
        LambdaSink {
            cfg: cfg.clone(),
            envelope,
            report_batch_item_failures,
            pool,
            ready: OnceCell::new(),
        }
    }

    /// `POST /2015-03-31/functions/NAME/invocations[?Qualifier=Q]` on the endpoint.
    fn invoke_url(&self, region: &str) -> String {
        let base = self
            .cfg
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("https://lambda.{region}.amazonaws.com"));
        let name = percent_encoding::utf8_percent_encode(&self.cfg.function_name, SEGMENT);
        let mut url = format!(
            "{}/2015-03-31/functions/{name}/invocations",
            base.trim_end_matches('/')
        );
        if let Some(q) = &self.cfg.qualifier {
            url.push_str("?Qualifier=");
            url.extend(percent_encoding::utf8_percent_encode(q, SEGMENT));
        }
        url
    }

    async fn ready(&self) -> Result<&Ready, SinkError> {
        self.ready
            .get_or_try_init(|| async {
                let arn_region = parse_function_name(&self.cfg.function_name)
                    .and_then(|f| f.region.map(str::to_owned));
                let signer = Signer::load(self.cfg.region.clone().or(arn_region)).await?;
                let mut headers = BTreeMap::new();
                headers.insert(
                    "X-Amz-Invocation-Type".to_owned(),
                    Secret::new("RequestResponse"),
                );
                let endpoint = Endpoint::new(
                    &Secret::new(self.invoke_url(signer.region())),
                    &headers,
                    self.envelope.content_type(),
                    self.cfg.timeout.0,
                    MAX_RESPONSE,
                    self.pool,
                )
                .map_err(SinkError::Connection)?;
                Ok(Ready { endpoint, signer })
            })
            .await
    }
}

#[async_trait]
impl Sink for LambdaSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let ready = self.ready().await?;
        let mut body = Vec::new();
        self.envelope.write(batch, &mut body);
        let signature = ready
            .signer
            .sign(ready.endpoint.uri(), ready.endpoint.headers(), &body)
            .await?;
        // Trace headers are not signed: Lambda reads them, SigV4 need not cover them.
        let mut headers = signature;
        headers.extend(ready.endpoint.trace_headers(batch));
        let answer = ready.endpoint.post_with(body, headers).await?;
        if self.report_batch_item_failures {
            batch_item_failures(&answer.body, batch).map_err(SinkError::Failed)
        } else {
            Ok(SinkOutcome::Delivered)
        }
    }

    /// The endpoint's own timeout fires first; this bounds resolving credentials too.
    fn call_timeout(&self) -> Duration {
        self.cfg.timeout.0 + Duration::from_secs(30)
    }

    fn describe(&self) -> String {
        let mut s = format!("lambda {}", self.cfg.function_name);
        if let Some(q) = &self.cfg.qualifier {
            s.push(':');
            s.push_str(q);
        }
        if let Some(u) = &self.cfg.endpoint_url {
            s.push_str(" at ");
            s.push_str(&sluice_core::config::redact_url(u));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::event::{EventShape, Format};

    fn sink(function_name: &str, qualifier: Option<&str>, endpoint: Option<&str>) -> LambdaSink {
        let cfg = LambdaTargetConfig {
            function_name: function_name.into(),
            qualifier: qualifier.map(Into::into),
            region: None,
            endpoint_url: endpoint.map(Into::into),
            timeout: super::super::config::default_timeout(),
            format: Format::Lambda,
            input_template: None,
        };
        let shape = EventShape {
            event_source: "aws:sqs",
            list_key: "Records",
            records_carry_source: true,
            grouped: false,
            body_key: "body",
        };
        LambdaSink::new(&cfg, Envelope::new(shape, Format::Lambda, "arn"), false, 1)
    }

    #[test]
    fn invoke_urls_encode_arns_and_carry_the_qualifier() {
        assert_eq!(
            sink("orders-fn", Some("live"), None).invoke_url("eu-west-1"),
            "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/orders-fn/invocations?Qualifier=live"
        );
        assert_eq!(
            sink(
                "arn:aws:lambda:eu-west-1:123456789012:function:f",
                None,
                Some("http://127.0.0.1:9000/")
            )
            .invoke_url("eu-west-1"),
            "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Af/invocations"
        );
    }
}
