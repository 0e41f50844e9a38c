//! `target.http`.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration, Secret, redact_url};
use sluice_core::event::Format;
use std::collections::BTreeMap;
use std::time::Duration;

/// `target.http`: POST each batch to a function.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HttpTargetConfig {
    /// `http://` or `https://` URL of the function.
    pub url: Secret,
    /// Longest wait for the whole answer. Default 30s; at most 14m (Lambda's limit for MQ
    /// event source mappings).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Extra request headers; values may use `${env:...}` and are never printed.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// Event shape: `lambda` (default), `pipes` or `cloudevents`.
    #[serde(default)]
    pub format: Format,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

/// `target.http.timeout` by default.
pub fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

const MAX_TIMEOUT: Duration = Duration::from_secs(14 * 60);

impl HttpTargetConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        validate_endpoint(path, &self.url, self.timeout, &self.headers, errors);
    }
}

/// The rules a function endpoint's URL, timeout and headers follow (targets and enrichments).
fn validate_endpoint(
    path: &str,
    url: &Secret,
    timeout: HumanDuration,
    headers: &BTreeMap<String, Secret>,
    errors: &mut Vec<ConfigError>,
) {
    let url = url.expose();
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() => {}
        _ => errors.push(ConfigError::new(
            format!("{path}.url"),
            format!(
                "found `{}`, allowed an http:// or https:// URL",
                redact_url(url)
            ),
        )),
    }
    if timeout.0 > MAX_TIMEOUT || timeout.0.is_zero() {
        errors.push(ConfigError::new(
            format!("{path}.timeout"),
            format!("found {}, allowed 1ms..14m", timeout),
        ));
    }
    for (name, value) in headers {
        if http::HeaderName::try_from(name.as_str()).is_err() {
            errors.push(ConfigError::new(
                format!("{path}.headers.{name}"),
                "not a valid HTTP header name",
            ));
        }
        if http::HeaderValue::try_from(value.expose()).is_err() {
            errors.push(ConfigError::new(
                format!("{path}.headers.{name}"),
                "value is not a valid HTTP header value",
            ));
        }
    }
}

/// `enrichment`: exactly one kind (only `http` for now).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum EnrichmentConfig {
    /// POST each batch (a JSON array of records) to a function; its answer replaces the batch.
    Http(HttpEnrichmentConfig),
}

/// `enrichment.http`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct HttpEnrichmentConfig {
    /// `http://` or `https://` URL of the enrichment function.
    pub url: Secret,
    /// Longest wait for the whole answer; a timeout fails the batch. Default 10s; at most 14m.
    #[serde(default = "default_enrichment_timeout")]
    pub timeout: HumanDuration,
    /// Extra request headers; values may use `${env:...}` and are never printed.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
}

/// `enrichment.http.timeout` by default.
pub fn default_enrichment_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

impl HttpEnrichmentConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        validate_endpoint(path, &self.url, self.timeout, &self.headers, errors);
    }
}
