//! One POST per batch.

use crate::config::HttpTargetConfig;
use crate::connection::{HttpClient, client};
use crate::response::batch_item_failures;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use sluice_core::config::redact_url;
use sluice_core::event::Envelope;
use sluice_core::record::Record;
use sluice_core::sink::{Sink, SinkError, SinkOutcome};
use std::time::Duration;

/// Largest function answer read; anything larger is a failure (a `batchItemFailures` list for
/// 10,000 records is well under this).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

pub struct HttpSink {
    client: HttpClient,
    uri: http::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    envelope: Envelope,
    report_batch_item_failures: bool,
    display: String,
}

impl HttpSink {
    /// Build from validated configuration; no I/O.
    pub fn new(
        cfg: &HttpTargetConfig,
        envelope: Envelope,
        report_batch_item_failures: bool,
        pool_size: usize,
    ) -> Result<Self, String> {
        let uri: http::Uri = cfg
            .url
            .expose()
            .parse()
            .map_err(|_| format!("invalid url {}", redact_url(cfg.url.expose())))?;
        let mut headers = Vec::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            let mut value = HeaderValue::try_from(v.expose())
                .map_err(|_| format!("header {k}: invalid value"))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let content_type = HeaderValue::from_static(envelope.content_type());
        headers.push((header::CONTENT_TYPE, content_type));
        Ok(HttpSink {
            client: client(pool_size),
            display: format!(
                "http {} format={}",
                redact_url(cfg.url.expose()),
                envelope.format.name()
            ),
            uri,
            headers,
            timeout: cfg.timeout.0,
            envelope,
            report_batch_item_failures,
        })
    }

    async fn call(&self, body: Vec<u8>, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SinkError::Failed(format!("building the request: {e}")))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| crate::error::unreachable(&e))?;
        let status = resp.status();
        let function_error = resp.headers().contains_key("x-amz-function-error");
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| SinkError::Failed(format!("reading the response: {e}")))?
            .to_bytes();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(SinkError::Throttled { retry_after });
        }
        if function_error {
            return Err(SinkError::Failed(format!(
                "function error (HTTP {})",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(SinkError::Failed(format!("HTTP {}", status.as_u16())));
        }
        if self.report_batch_item_failures {
            batch_item_failures(&body, batch).map_err(SinkError::Failed)
        } else {
            Ok(SinkOutcome::Delivered)
        }
    }
}

#[async_trait]
impl Sink for HttpSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        let mut body = Vec::new();
        self.envelope.write(batch, &mut body);
        match tokio::time::timeout(self.timeout, self.call(body, batch)).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::Timeout(self.timeout)),
        }
    }

    fn describe(&self) -> String {
        self.display.clone()
    }
}
