//! `target.runtime_api`.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration};
use sluice_core::event::Format;
use std::net::SocketAddr;
use std::time::Duration;

/// `target.runtime_api`: serve the Lambda Runtime API; unchanged Lambda function code, run by
/// any official runtime interface client with `AWS_LAMBDA_RUNTIME_API` set to this address,
/// polls it for batches.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RuntimeApiConfig {
    /// `HOST:PORT` to listen on, e.g. `0.0.0.0:9001`; workers set `AWS_LAMBDA_RUNTIME_API` to
    /// the address they reach it by (`sluice.namespace.svc:9001`).
    pub listen: String,
    /// The invocation deadline a worker is given (`Lambda-Runtime-Deadline-Ms`); a worker that
    /// has not answered by then fails its batch. Default 30s; at most 14m.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// `Lambda-Runtime-Invoked-Function-Arn` (what `context.invoked_function_arn` reads).
    /// Default `arn:aws:lambda:local:000000000000:function:PIPE`.
    #[serde(default)]
    pub function_arn: Option<String>,
    /// Event shape: `lambda` (default), `pipes` or `cloudevents`.
    #[serde(default)]
    pub format: Format,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

/// `target.runtime_api.timeout` by default.
pub(crate) fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

const MAX_TIMEOUT: Duration = Duration::from_secs(14 * 60);

impl RuntimeApiConfig {
    /// The address to listen on, once validated.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if self.addr().is_none() {
            errors.push(ConfigError::new(
                format!("{path}.listen"),
                format!(
                    "found `{}`, allowed HOST:PORT with an IP address, e.g. 0.0.0.0:9001",
                    self.listen
                ),
            ));
        }
        if self.timeout.0 > MAX_TIMEOUT || self.timeout.0.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}.timeout"),
                format!("found {}, allowed 1ms..14m", self.timeout),
            ));
        }
    }
}
