//! `target.lambda`.

use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::config::{ConfigError, HumanDuration};
use sluice_core::event::Format;
use std::time::Duration;

/// `target.lambda`: invoke a function through the AWS Lambda Invoke API (`RequestResponse`),
/// on AWS or any compatible endpoint, signed with SigV4 from the standard AWS credential chain.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LambdaTargetConfig {
    /// The function: a name (`orders-fn`), a name with an alias or version (`orders-fn:live`),
    /// or a function ARN (`arn:aws:lambda:us-east-1:123456789012:function:orders-fn`).
    pub function_name: String,
    /// Version or alias to invoke (`Qualifier`); not together with a qualified name.
    #[serde(default)]
    pub qualifier: Option<String>,
    /// AWS Region. Default: the ARN's, else the AWS environment's (`AWS_REGION`, profile).
    #[serde(default)]
    pub region: Option<String>,
    /// Another Invoke API endpoint (`http://127.0.0.1:9000` for `cargo lambda watch`).
    /// Default `https://lambda.REGION.amazonaws.com`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Longest wait for the function's answer. Default 15m (Lambda's longest run); 1ms..15m.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Event shape: `lambda` (default), `pipes` or `cloudevents`.
    #[serde(default)]
    pub format: Format,
    /// Reshape each record before it is sent: EventBridge Pipes' `InputTemplate` (static
    /// text, `<$.path>` placeholders into the record, `<aws.pipes.*>` variables; see the
    /// README's "Input templates"). Not allowed under `dead_letter`, which keeps records as
    /// they were.
    pub input_template: Option<String>,
}

/// `target.lambda.timeout` by default.
pub(crate) fn default_timeout() -> HumanDuration {
    HumanDuration(MAX_TIMEOUT)
}

const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Lambda's limit on a synchronous invocation's payload (6 MB, as 6,291,456 bytes).
pub const MAX_PAYLOAD: u64 = 6 * 1024 * 1024;

/// The parts of `function_name`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FunctionName<'a> {
    /// What goes into the path (a name, `name:qualifier`, or the ARN).
    pub path: &'a str,
    /// The Region in an ARN.
    pub region: Option<&'a str>,
    /// A qualifier in the name or ARN.
    pub qualified: bool,
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$')
}

/// Parse a name, `name:qualifier` or `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:Q]`.
pub(crate) fn parse_function_name(s: &str) -> Option<FunctionName<'_>> {
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let ok = matches!(parts.as_slice(),
            [_, "lambda", region, account, "function", name, q @ ..]
                if !region.is_empty() && account.len() == 12 && valid_part(name)
                    && q.len() <= 1 && q.iter().all(|q| valid_part(q)));
        return ok.then(|| FunctionName {
            path: s,
            region: parts.get(2).copied(),
            qualified: parts.len() == 7,
        });
    }
    match s.split_once(':') {
        None if valid_part(s) => Some(FunctionName {
            path: s,
            region: None,
            qualified: false,
        }),
        Some((name, q)) if valid_part(name) && valid_part(q) => Some(FunctionName {
            path: s,
            region: None,
            qualified: true,
        }),
        _ => None,
    }
}

impl LambdaTargetConfig {
    /// Rules that need more than one field; errors name their place under `path`.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        match parse_function_name(&self.function_name) {
            None => errors.push(ConfigError::new(
                format!("{path}.function_name"),
                format!(
                    "found `{}`, allowed a function name, NAME:QUALIFIER, or a function ARN",
                    self.function_name
                ),
            )),
            Some(f) if f.qualified && self.qualifier.is_some() => errors.push(ConfigError::new(
                format!("{path}.qualifier"),
                "function_name already names a version or alias; give one or the other",
            )),
            Some(_) => {}
        }
        if let Some(q) = &self.qualifier
            && !valid_part(q)
        {
            errors.push(ConfigError::new(
                format!("{path}.qualifier"),
                format!("found `{q}`, allowed a version number, `$LATEST` or an alias name"),
            ));
        }
        if let Some(u) = &self.endpoint_url {
            match u.parse::<http::Uri>() {
                Ok(uri)
                    if matches!(uri.scheme_str(), Some("http" | "https"))
                        && uri.host().is_some() => {}
                _ => errors.push(ConfigError::new(
                    format!("{path}.endpoint_url"),
                    format!("found `{u}`, allowed an http:// or https:// URL"),
                )),
            }
        }
        if self.timeout.0 > MAX_TIMEOUT || self.timeout.0.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}.timeout"),
                format!("found {}, allowed 1ms..15m", self.timeout),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_aliases_and_arns() {
        let f = parse_function_name("orders-fn").unwrap();
        assert!(!f.qualified && f.region.is_none());
        assert!(parse_function_name("orders-fn:live").unwrap().qualified);
        let arn = parse_function_name("arn:aws:lambda:eu-west-1:123456789012:function:orders-fn")
            .unwrap();
        assert_eq!(arn.region, Some("eu-west-1"));
        assert!(!arn.qualified);
        assert!(
            parse_function_name("arn:aws:lambda:eu-west-1:123456789012:function:f:7")
                .unwrap()
                .qualified
        );
        for bad in [
            "",
            "a/b",
            "a:b:c",
            "arn:aws:s3:::bucket",
            "f:",
            "arn:aws:lambda:r:1:function:f",
        ] {
            assert!(parse_function_name(bad).is_none(), "{bad}");
        }
    }
}
