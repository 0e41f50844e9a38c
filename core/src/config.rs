//! Pipe settings shared by every connector, and the value types pipe files use.
//!
//! Every default is written once, in a `default_*` function, and documented on its field; the
//! field docs are the user documentation (they end up in `sluice schema`).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// One invalid setting: the key path (`target.http.timeout`) and what is wrong. The loader turns
/// the path into `FILE:LINE:COLUMN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where in the pipe file, as a key path (`source.KIND.url`).
    pub path: String,
    /// What is wrong: what was found and what is allowed.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The largest duration any key or flag accepts.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest `retry.backoff.initial` and `retry.backoff.max`.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A duration written as `500ms`, `30s`, `5m`, `1h` (or a combination such as `1m30s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parse `500ms`, `10s`, `5m`, `1h`, `7d` (at most 7 days).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty duration".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| format!("`{s}` has no unit (use ms, s, m or h)"))?;
            if digits == 0 {
                return Err(format!("`{s}` is not a duration such as 500ms, 30s or 5m"));
            }
            let n: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{s}` is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n.saturating_mul(60)),
                "h" => Duration::from_secs(n.saturating_mul(3600)),
                other => {
                    return Err(format!(
                        "`{s}` has unknown unit `{other}` (use ms, s, m or h)"
                    ));
                }
            };
            total = total.saturating_add(unit);
            rest = &rest[unit_len..];
        }
        // Every key has its own, smaller bound; this one keeps absurd values out of any
        // arithmetic on instants.
        if total > MAX_DURATION {
            return Err(format!("`{s}` is too large (at most 7 days)"));
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else if !ms.is_multiple_of(60_000) || ms == 0 {
            write!(f, "{}s", ms / 1000)
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else {
            write!(f, "{}m", ms / 60_000)
        }
    }
}

// Visitors (rather than deserializing a String and parsing it afterwards) make the parse error
// part of the value's own deserialization, so the loader can point at the value.
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = HumanDuration;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 500ms, 30s or 5m")
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<HumanDuration, E> {
        HumanDuration::parse(s).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h))+$",
            "description": "a duration such as 500ms, 30s, 5m or 1h"
        })
    }
}

/// A size in bytes: an integer, or a string such as `256KiB`, `6MiB`, `1MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `6MiB`, `256KiB`, `1000` (bytes).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if split == 0 {
            return Err(format!(
                "`{s}` is not a size such as 262144, 256KiB or 6MiB"
            ));
        }
        let n: u64 = s[..split]
            .parse()
            .map_err(|_| format!("`{s}` is too large"))?;
        let mult: u64 = match s[split..].trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            other => {
                return Err(format!(
                    "`{s}` has unknown unit `{other}` (use B, KiB, MiB, GiB, KB, MB or GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

struct ByteSizeVisitor;

impl serde::de::Visitor<'_> for ByteSizeVisitor {
    type Value = ByteSize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size in bytes, or a string such as 256KiB or 6MiB")
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
        Ok(ByteSize(n))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ByteSize, E> {
        u64::try_from(n)
            .map(ByteSize)
            .map_err(|_| E::custom(format!("found {n}, allowed a size of 0 or more bytes")))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ByteSize, E> {
        ByteSize::parse(s).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ByteSizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+ ?(B|KiB|MiB|GiB|KB|kB|MB|GB)?$"}
            ],
            "description": "bytes, or a string such as 256KiB or 6MiB"
        })
    }
}

/// A string that may hold a secret. `Debug` and `Display` print `***`; use
/// [`Secret::expose`] where the value is really needed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret read from a file, a flag or the environment.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one moment it is sent to a broker or target.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "a string that may hold ${env:NAME} or ${file:PATH}; never printed"
        })
    }
}

pub use crate::redact::redact_url;

/// `batch:` — when a batch is sent.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BatchConfig {
    /// Records per target call, 1..10000. Default: the source connector's (its reference
    /// lists it; Lambda's for the same source).
    pub size: Option<u32>,
    /// Longest wait to fill a batch, from its first record; 0s..300s. Default: the source
    /// connector's (Lambda's for the same source).
    pub window: Option<HumanDuration>,
    /// Largest serialized event, in bytes. Default 6MiB (6291456), as Lambda.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            size: None,
            window: None,
            max_bytes: default_max_bytes(),
        }
    }
}

/// `batch.max_bytes` by default: 6 MiB, Lambda's synchronous payload limit.
pub fn default_max_bytes() -> ByteSize {
    ByteSize(6 * 1024 * 1024)
}

/// `retry:` — what happens to a failed record.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RetryConfig {
    /// Deliveries of one record before it is given up; 0 = unlimited. Default 6 (the
    /// redelivery policy Lambda's broker client uses: one delivery and five redeliveries).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay between attempts: exponential from `initial`, capped at `max`, with jitter.
    #[serde(default)]
    pub backoff: BackoffConfig,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            backoff: BackoffConfig::default(),
        }
    }
}

/// `retry.max_attempts` by default.
pub fn default_max_attempts() -> u32 {
    6
}

/// `retry.backoff:`
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct BackoffConfig {
    /// First delay. Default 1s.
    #[serde(default = "default_backoff_initial")]
    pub initial: HumanDuration,
    /// Largest delay. Default 5m.
    #[serde(default = "default_backoff_max")]
    pub max: HumanDuration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: default_backoff_initial(),
            max: default_backoff_max(),
        }
    }
}

/// `retry.backoff.initial` by default.
pub fn default_backoff_initial() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// `retry.backoff.max` by default.
pub fn default_backoff_max() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

/// `log`: the pipe's execution log, like EventBridge Pipes' log configuration: one line per
/// execution step, at the tracing target `sluice::execution`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct LogConfig {
    /// Which steps are logged: `off`; `error` (default: failed enrichment and target calls,
    /// dead-lettered records); `info` (also received, filtered, succeeded calls, retries);
    /// `trace` (also every call as it starts).
    #[serde(default)]
    pub level: LogLevel,
    /// Include the records (their events as the target gets them) in `info` and `trace` lines.
    /// Default false. Secrets from the pipe file never appear in the log.
    #[serde(default)]
    pub include_payload: bool,
}

/// How much of a pipe's execution is logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures and dead letters.
    #[default]
    Error,
    /// Every step but call starts.
    Info,
    /// Every step.
    Trace,
}

/// Check the settings that do not depend on the source kind.
pub fn validate_common(
    batch: &BatchConfig,
    retry: &RetryConfig,
    concurrency: Option<u32>,
    errors: &mut Vec<ConfigError>,
) {
    if let Some(size) = batch.size
        && !(1..=10_000).contains(&size)
    {
        errors.push(ConfigError::new(
            "batch.size",
            format!("found {size}, allowed 1..10000"),
        ));
    }
    if let Some(w) = batch.window
        && w.0 > Duration::from_secs(300)
    {
        errors.push(ConfigError::new(
            "batch.window",
            format!("found {w}, allowed 0s..300s"),
        ));
    }
    if batch.max_bytes.0 < 1024 {
        errors.push(ConfigError::new(
            "batch.max_bytes",
            format!("found {}, allowed at least 1024 bytes", batch.max_bytes.0),
        ));
    }
    if let Some(c) = concurrency
        && !(1..=1000).contains(&c)
    {
        errors.push(ConfigError::new(
            "concurrency",
            format!("found {c}, allowed 1..1000"),
        ));
    }
    if retry.backoff.initial.0.is_zero() {
        errors.push(ConfigError::new(
            "retry.backoff.initial",
            "found 0s, allowed at least 1ms",
        ));
    }
    for (key, d) in [
        ("retry.backoff.initial", retry.backoff.initial),
        ("retry.backoff.max", retry.backoff.max),
    ] {
        if d.0 > MAX_BACKOFF {
            errors.push(ConfigError::new(
                key,
                format!("found {d}, allowed at most 1h"),
            ));
        }
    }
    if retry.backoff.max < retry.backoff.initial {
        errors.push(ConfigError::new(
            "retry.backoff.max",
            format!(
                "found {}, allowed at least retry.backoff.initial ({})",
                retry.backoff.max, retry.backoff.initial
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            HumanDuration::parse("30s").unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            HumanDuration::parse("1m30s").unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(HumanDuration::parse("0s").unwrap().0, Duration::ZERO);
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "1.5s",
            "-1s",
            "8d",
            "169h",
            "18446744073709551615s",
            "99999999999999999999999h",
        ] {
            assert!(HumanDuration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HumanDuration(Duration::from_millis(1500)).to_string(),
            "1500ms"
        );
        assert_eq!(HumanDuration(Duration::from_secs(300)).to_string(), "5m");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("6MiB").unwrap().0, 6_291_456);
        assert_eq!(ByteSize::parse("256KiB").unwrap().0, 262_144);
        assert_eq!(ByteSize::parse("1024").unwrap().0, 1024);
        assert!(ByteSize::parse("6 parsecs").is_err());
        assert!(ByteSize::parse("MiB").is_err());
    }

    #[test]
    fn secrets_print_as_stars() {
        assert_eq!(format!("{:?}", Secret::new("x")), "***");
        assert_eq!(Secret::new("x").to_string(), "***");
    }
}
