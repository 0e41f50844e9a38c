//! The connector contract: what a connector crate declares as data and how the bridge builds
//! it. A connector is one crate that implements [`SourceConnector`] and/or [`SinkConnector`];
//! the bridge adds one enum variant per connector and calls these, and knows nothing else
//! about it. `docs/connector.md` walks through writing one.
//!
//! The parts a connector implements at run time are in [`crate::session`] (opening a session
//! and reading it; core's driver does the rest), [`crate::source::Acker`] (settling) and
//! [`crate::sink::Sink`] (delivering).

use crate::config::ConfigError;
use crate::event::{Envelope, EventShape, Format};
use crate::sink::Sink;
use crate::source::Source;
use std::sync::Arc;
use std::time::Duration;

/// The pipe settings a connector chooses when the pipe file leaves them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// `batch.size`.
    pub batch_size: u32,
    /// `batch.window`.
    pub window: Duration,
    /// `concurrency`.
    pub concurrency: u32,
}

/// The resolved pipe settings a source sizes itself by (prefetch, parallel receives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// `batch.size`.
    pub batch_size: u32,
    /// `concurrency`.
    pub concurrency: u32,
}

impl Sizing {
    /// Records the pipe can hold in flight: `batch.size x concurrency`.
    pub fn in_flight(self) -> u32 {
        self.batch_size.saturating_mul(self.concurrency)
    }
}

/// A source built from its configuration, not yet connected.
pub struct BuiltSource {
    /// The source, ready to run.
    pub source: Arc<dyn Source>,
    /// `eventSourceArn` of its events.
    pub event_source_arn: String,
    /// Records of one [`crate::Record::group`] must be delivered in order, one batch of a
    /// group at a time (a FIFO queue's message groups).
    pub ordered: bool,
}

/// A source connector: its defaults and event shape as data, and how to build it.
pub trait SourceConnector {
    /// Its keys under `source:`.
    type Config;
    /// The pipe settings it runs best with.
    const DEFAULTS: Defaults;
    /// The event its records make.
    const SHAPE: EventShape;
    /// Build from validated configuration; no I/O. Errors name their place in the pipe file.
    fn build_source(
        cfg: &Self::Config,
        pipe: &str,
        sizing: Sizing,
    ) -> Result<BuiltSource, Vec<ConfigError>>;
}

/// What a target or dead-letter destination is built with.
pub struct SinkContext<'a> {
    /// Where its keys are in the pipe file (`target`, `dead_letter`), for errors.
    pub path: &'a str,
    /// The pipe's name.
    pub pipe: &'a str,
    /// The source's event shape and `eventSourceArn`, for sinks that send events.
    pub shape: EventShape,
    /// The source's `eventSourceArn`.
    pub event_source_arn: &'a str,
    /// `report_batch_item_failures`.
    pub report_batch_item_failures: bool,
    /// Calls that may be in flight at once (the pipe's `concurrency`).
    pub pool: usize,
    /// Records reach it reshaped by an `input_template`.
    pub templated: bool,
}

impl SinkContext<'_> {
    /// The envelope for a sink that sends events in `format`. Templated records are no longer
    /// the source's records, so `format: lambda` sends them as EventBridge Pipes does: a bare
    /// JSON array of the template's outputs (`cloudevents` wraps each one).
    pub fn envelope(&self, format: Format) -> Envelope {
        if !self.templated {
            return Envelope::new(self.shape, format, self.event_source_arn);
        }
        let shape = EventShape {
            records_carry_source: true,
            grouped: false,
            ..self.shape
        };
        let format = match format {
            Format::Cloudevents => Format::Cloudevents,
            Format::Lambda | Format::Pipes => Format::Pipes,
        };
        Envelope::new(shape, format, self.event_source_arn)
    }
}

/// A sink connector: how to build it.
pub trait SinkConnector {
    /// Its keys under `target:` or `dead_letter:`.
    type Config;
    /// The event format it receives (`batch.max_bytes` is measured on it).
    fn format(_cfg: &Self::Config) -> Format {
        Format::Lambda
    }
    /// Build from validated configuration; no I/O.
    fn build_sink(
        cfg: &Self::Config,
        ctx: &SinkContext<'_>,
    ) -> Result<Arc<dyn Sink>, Vec<ConfigError>>;
}
