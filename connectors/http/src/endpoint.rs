//! One HTTP function endpoint: URL, headers, pooled client, timeout. Targets and enrichments
//! both POST a JSON document to one and read the answer the same way.

use crate::connection::{HttpClient, client};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use sluice_core::config::{Secret, redact_url};
use sluice_core::record::Record;
use sluice_core::sink::SinkError;
use sluice_core::trace::TraceContext;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) struct Endpoint {
    client: HttpClient,
    uri: http::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    /// Largest answer read; anything larger fails the call.
    max_answer: usize,
    pub(crate) display: String,
}

/// A 2xx answer without `X-Amz-Function-Error`.
pub(crate) struct Answer {
    pub body: Bytes,
}

impl Endpoint {
    pub(crate) fn new(
        url: &Secret,
        headers: &BTreeMap<String, Secret>,
        content_type: &'static str,
        timeout: Duration,
        max_answer: usize,
        pool_size: usize,
    ) -> Result<Self, String> {
        let uri: http::Uri = url
            .expose()
            .parse()
            .map_err(|_| format!("invalid url {}", redact_url(url.expose())))?;
        let mut list = Vec::new();
        for (k, v) in headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            let mut value = HeaderValue::try_from(v.expose())
                .map_err(|_| format!("header {k}: invalid value"))?;
            value.set_sensitive(true);
            list.push((name, value));
        }
        list.push((header::CONTENT_TYPE, HeaderValue::from_static(content_type)));
        Ok(Endpoint {
            client: client(pool_size),
            display: redact_url(url.expose()),
            uri,
            headers: list,
            timeout,
            max_answer,
        })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POST `body`; `Ok` only for a 2xx answer that is not a function error.
    pub(crate) async fn post(&self, body: Vec<u8>) -> Result<Answer, SinkError> {
        self.post_with(body, Vec::new()).await
    }

    /// [`Endpoint::post`] with `extra` headers for this request (a signature).
    pub(crate) async fn post_with(
        &self,
        body: Vec<u8>,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<Answer, SinkError> {
        match tokio::time::timeout(self.timeout, self.exchange(body, extra)).await {
            Ok(r) => r,
            Err(_) => Err(SinkError::Timeout(self.timeout)),
        }
    }

    /// The URI requests go to.
    pub(crate) fn uri(&self) -> &http::Uri {
        &self.uri
    }

    /// The trace context of a batch as request headers (`trace.rs` in core), leaving out any
    /// header the pipe file sets itself.
    pub(crate) fn trace_headers(&self, batch: &[Record]) -> Vec<(HeaderName, HeaderValue)> {
        let Some(ctx) = TraceContext::first(batch) else {
            return Vec::new();
        };
        ctx.http_headers()
            .into_iter()
            .filter(|(name, _)| !self.headers.iter().any(|(k, _)| k.as_str() == *name))
            .filter_map(|(name, value)| {
                Some((
                    HeaderName::from_static(name),
                    HeaderValue::try_from(value).ok()?,
                ))
            })
            .collect()
    }

    /// The fixed headers every request carries.
    pub(crate) fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    async fn exchange(
        &self,
        body: Vec<u8>,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<Answer, SinkError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone());
        for (k, v) in self.headers.iter().chain(&extra) {
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
        // AWS APIs name the error in a header (`TooManyRequestsException:...`).
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_owned());
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(resp.into_body(), self.max_answer)
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
            return Err(SinkError::Failed(match error_type {
                Some(t) => format!("HTTP {} {t}", status.as_u16()),
                None => format!("HTTP {}", status.as_u16()),
            }));
        }
        Ok(Answer { body })
    }
}
