//! Scriptable in-memory parts for tests: a source fed through a channel, an acker that records
//! every settlement, and a sink whose answers a test decides.

use crate::event::EventShape;
use crate::record::{DeliveryId, Record};
use crate::sink::{Sink, SinkError, SinkOutcome};
use crate::source::{Acker, Outcome, Source, SourceContext};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A shape whose records sit in a list under a head, payload under `data`, grouped by
/// [`Record::group`].
pub const GROUPED_SHAPE: EventShape = EventShape {
    event_source: "test:grouped",
    list_key: "byGroup",
    records_carry_source: false,
    grouped: true,
    body_key: "data",
};

/// A shape whose records carry their own source fields, payload under `body`.
pub const BARE_SHAPE: EventShape = EventShape {
    event_source: "test:bare",
    list_key: "Records",
    records_carry_source: true,
    grouped: false,
    body_key: "body",
};

/// A record whose event is `{"n":N}` and body `N`.
pub fn record(n: u64) -> Record {
    let mut r = Record::new(
        DeliveryId { epoch: 1, seq: n },
        Bytes::from(format!("{{\"n\":{n}}}")),
        Bytes::from(n.to_string()),
    );
    r.meta.message_id = Some(n.to_string());
    r
}

/// Every settlement made, in order.
#[derive(Default)]
pub struct RecordingAcker {
    /// Every settlement, in order.
    pub settled: Mutex<Vec<(DeliveryId, Outcome)>>,
    /// The live connection epoch it reports; 0 reports none (no epochs kept).
    pub epoch: std::sync::atomic::AtomicU64,
}

impl RecordingAcker {
    /// (sequence number, outcome) of every settlement, in order.
    pub fn outcomes(&self) -> Vec<(u64, Outcome)> {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, o)| (id.seq, *o))
            .collect()
    }
}

#[async_trait]
impl Acker for RecordingAcker {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(settlements);
        0
    }

    fn live_epoch(&self) -> Option<u64> {
        match self.epoch.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            e => Some(e),
        }
    }
}

/// A source that forwards whatever the test sends on [`MemorySource::feed`].
pub struct MemorySource {
    input: tokio::sync::Mutex<mpsc::UnboundedReceiver<Record>>,
    /// Its settle half.
    pub acker: Arc<RecordingAcker>,
}

impl MemorySource {
    /// A source, and the sender a test feeds it through.
    pub fn new() -> (Arc<Self>, mpsc::UnboundedSender<Record>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let source = Arc::new(MemorySource {
            input: tokio::sync::Mutex::new(rx),
            acker: Arc::new(RecordingAcker::default()),
        });
        (source, tx)
    }
}

#[async_trait]
impl Source for MemorySource {
    async fn run(&self, out: mpsc::Sender<Record>, ctx: SourceContext, stop: CancellationToken) {
        ctx.status.set_connected(true);
        let mut input = self.input.lock().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = input.recv() => match r {
                    Some(r) => if !crate::source::forward(&out, r, &stop).await { return },
                    None => { stop.cancelled().await; return }
                }
            }
        }
    }

    fn acker(&self) -> Arc<dyn Acker> {
        self.acker.clone()
    }

    async fn close(&self) {}

    fn describe(&self) -> String {
        "memory".into()
    }
}

type Script = dyn Fn(&[Record]) -> Result<SinkOutcome, SinkError> + Send + Sync;

/// A sink that answers with a closure and remembers every batch (as `seq` numbers).
pub struct ScriptedSink {
    script: Box<Script>,
    /// The sequence numbers of every batch delivered, in order.
    pub calls: Mutex<Vec<Vec<u64>>>,
    /// What it declares as `Sink::max_batch`.
    pub max_batch: usize,
}

impl ScriptedSink {
    /// A sink answering each batch (its sequence numbers) as `answer` decides.
    pub fn new(
        script: impl Fn(&[Record]) -> Result<SinkOutcome, SinkError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(ScriptedSink {
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            max_batch: usize::MAX,
        })
    }

    /// A sink that confirms everything.
    pub fn ok() -> Arc<Self> {
        Self::new(|_| Ok(SinkOutcome::Delivered))
    }

    /// The sequence numbers of every batch delivered, in order.
    pub fn batches(&self) -> Vec<Vec<u64>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Sink for ScriptedSink {
    async fn deliver(&self, batch: &[Record]) -> Result<SinkOutcome, SinkError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(batch.iter().map(|r| r.id.seq).collect());
        (self.script)(batch)
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}
