//! A pipe's execution log, like EventBridge Pipes' execution-step log records: one structured
//! line per step a batch takes, at the tracing target `sluice::execution`, filtered by the
//! pipe's own `log.level` (independently of `SLUICE_LOG`, which still filters the process).
//!
//! | step | level | fields |
//! |---|---|---|
//! | `received` | info | `records` |
//! | `filtered` | info | `records` |
//! | `enrichment_started` | trace | `batch`, `records`, `payload`? |
//! | `enrichment_succeeded` | info | `batch`, `records` (the answer's) |
//! | `enrichment_failed` | error | `batch`, `records`, `error` |
//! | `target_started` | trace | `batch`, `records`, `payload`? |
//! | `target_succeeded` | info | `batch`, `records`, `failed` (partial) |
//! | `target_failed` | error | `batch`, `records`, `error` |
//! | `retried` | info | `records`, `attempt`, `error` |
//! | `dead_lettered` | error | `records`, `destination`, `error` |
//!
//! Every line carries `pipe`, `step` and `log_level`. `payload` (the records as the target
//! gets them, a JSON array) only with `log.include_payload` and only on info and trace lines.
//! Error lines are rate-limited per pipe: at most [`ERROR_LINES_PER_MINUTE`] a minute, then
//! one line saying how many were left out.

use crate::config::{LogConfig, LogLevel};
use crate::record::Record;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Error lines a pipe writes per minute at most.
pub const ERROR_LINES_PER_MINUTE: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// One execution step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Records arrived from the source.
    Received,
    /// Records no pattern matched (acknowledged).
    Filtered,
    /// An enrichment call starts.
    EnrichmentStarted,
    /// An enrichment call answered.
    EnrichmentSucceeded,
    /// An enrichment call failed.
    EnrichmentFailed,
    /// A target call starts.
    TargetStarted,
    /// The target confirmed (all, or all but `failed`).
    TargetSucceeded,
    /// The target call failed.
    TargetFailed,
    /// Failed records will be delivered again.
    Retried,
    /// Records given up: to the dead-letter destination or the broker's dead-letter path.
    DeadLettered,
}

impl Step {
    /// The name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Step::Received => "received",
            Step::Filtered => "filtered",
            Step::EnrichmentStarted => "enrichment_started",
            Step::EnrichmentSucceeded => "enrichment_succeeded",
            Step::EnrichmentFailed => "enrichment_failed",
            Step::TargetStarted => "target_started",
            Step::TargetSucceeded => "target_succeeded",
            Step::TargetFailed => "target_failed",
            Step::Retried => "retried",
            Step::DeadLettered => "dead_lettered",
        }
    }

    /// The least `log.level` that logs it.
    pub fn level(self) -> LogLevel {
        match self {
            Step::EnrichmentFailed | Step::TargetFailed | Step::DeadLettered => LogLevel::Error,
            Step::EnrichmentStarted | Step::TargetStarted => LogLevel::Trace,
            _ => LogLevel::Info,
        }
    }
}

/// What one line says besides its step.
#[derive(Default)]
pub struct Detail<'a> {
    /// The batch (execution) id, for steps of one call.
    pub batch: Option<u64>,
    /// How many records.
    pub records: usize,
    /// Failed records of a partial success.
    pub failed: Option<usize>,
    /// The delivery attempt (retries).
    pub attempt: Option<u32>,
    /// `dead_letter` or `broker` (dead letters).
    pub destination: Option<&'static str>,
    /// Why it failed.
    pub error: Option<&'a str>,
    /// The records, when payloads are logged.
    pub payload: Option<&'a [Record]>,
}

/// One pipe's execution log.
#[derive(Debug)]
pub struct ExecLog {
    pipe: std::sync::Arc<str>,
    level: LogLevel,
    include_payload: bool,
    batches: AtomicU64,
    budget: Mutex<Budget>,
}

#[derive(Debug)]
struct Budget {
    window_start: Instant,
    lines: u32,
    suppressed: u64,
}

impl Budget {
    /// Whether a line may be written at `now`, and how many were left out before it (to say
    /// so first).
    fn take(&mut self, now: Instant) -> (bool, u64) {
        let mut reported = 0;
        if now.duration_since(self.window_start) >= WINDOW {
            reported = std::mem::take(&mut self.suppressed);
            self.window_start = now;
            self.lines = 0;
        }
        if self.lines < ERROR_LINES_PER_MINUTE {
            self.lines += 1;
            (true, reported)
        } else {
            self.suppressed += 1;
            (false, reported)
        }
    }
}

impl ExecLog {
    /// The log of pipe `pipe`, as configured.
    pub fn new(pipe: &str, cfg: &LogConfig) -> Self {
        ExecLog {
            pipe: pipe.into(),
            level: cfg.level,
            include_payload: cfg.include_payload,
            batches: AtomicU64::new(0),
            budget: Mutex::new(Budget {
                window_start: Instant::now(),
                lines: 0,
                suppressed: 0,
            }),
        }
    }

    /// A log that writes nothing.
    pub fn off(pipe: &str) -> Self {
        Self::new(
            pipe,
            &LogConfig {
                level: LogLevel::Off,
                include_payload: false,
            },
        )
    }

    /// A new batch id (unique within the pipe's run).
    pub fn next_batch(&self) -> u64 {
        self.batches.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether `step` is logged (so callers skip building details when not).
    pub fn enabled(&self, step: Step) -> bool {
        self.level != LogLevel::Off && step.level() <= self.level
    }

    /// Write one line for `step`, if the pipe's level logs it.
    pub fn step(&self, step: Step, d: Detail<'_>) {
        if !self.enabled(step) {
            return;
        }
        let error_line = step.level() == LogLevel::Error;
        if error_line {
            let (write, left_out) = match self.budget.lock() {
                Ok(mut b) => b.take(Instant::now()),
                Err(_) => (true, 0),
            };
            if left_out > 0 {
                tracing::warn!(target: "sluice::execution", pipe = %self.pipe,
                    suppressed = left_out, "execution log: {left_out} error lines left out in the last minute");
            }
            if !write {
                return;
            }
        }
        let payload = d
            .payload
            .filter(|_| self.include_payload && !error_line)
            .map(payload_json);
        let (step_name, batch, records, failed, attempt) =
            (step.name(), d.batch, d.records, d.failed, d.attempt);
        let (destination, error, payload) = (d.destination, d.error, payload.as_deref());
        if error_line {
            tracing::error!(target: "sluice::execution", pipe = %self.pipe, step = step_name,
                log_level = "ERROR", batch, records, failed, attempt, destination, error, payload,
                "{step_name}");
        } else {
            let log_level = if step.level() == LogLevel::Trace {
                "TRACE"
            } else {
                "INFO"
            };
            tracing::info!(target: "sluice::execution", pipe = %self.pipe, step = step_name,
                log_level, batch, records, failed, attempt, destination, error, payload,
                "{step_name}");
        }
    }
}

/// The records' events as one JSON array.
fn payload_json(records: &[Record]) -> String {
    let mut out = Vec::with_capacity(records.iter().map(|r| r.event.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&r.event);
    }
    out.push(b']');
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_include_the_ones_below() {
        let log = |level| {
            ExecLog::new(
                "p",
                &LogConfig {
                    level,
                    include_payload: false,
                },
            )
        };
        assert!(!log(LogLevel::Off).enabled(Step::TargetFailed));
        assert!(log(LogLevel::Error).enabled(Step::DeadLettered));
        assert!(!log(LogLevel::Error).enabled(Step::Received));
        assert!(log(LogLevel::Info).enabled(Step::Retried));
        assert!(!log(LogLevel::Info).enabled(Step::TargetStarted));
        assert!(log(LogLevel::Trace).enabled(Step::EnrichmentStarted));
    }

    #[test]
    fn error_lines_are_rate_limited_and_the_gap_reported() {
        let start = Instant::now();
        let mut b = Budget {
            window_start: start,
            lines: 0,
            suppressed: 0,
        };
        let written = (0..25).filter(|_| b.take(start).0).count();
        assert_eq!(written, ERROR_LINES_PER_MINUTE as usize);
        assert_eq!(b.take(start + WINDOW), (true, 15));
        assert_eq!(b.take(start + WINDOW), (true, 0));
    }
}
