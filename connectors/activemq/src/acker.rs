//! One acker for both protocols. Both keep an epoch table of opaque receipts (a STOMP ack id,
//! an OpenWire consumer and message id), write on the pipe's session of a shared connection
//! (`crate::mux`, which also sends the connection's keep-alives, also while the pipe drains),
//! bound every write by `WRITE_TIMEOUT`, and say goodbye on close. A [`Wire`] says what the
//! bytes are.

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sluice_core::deliveries::Deliveries;
use sluice_core::record::DeliveryId;
use sluice_core::source::{Acker, Outcome, bounded};
use tracing::warn;

/// What a protocol writes for settlements and goodbyes.
pub(crate) trait Wire: Send + Sync + 'static {
    /// The pipe's session on its connection, and what frames need from it.
    type Live: Send + 'static;
    /// What settling one delivery needs.
    type Receipt: Send + 'static;
    /// The protocol's name, for logs.
    const NAME: &'static str;

    /// Write the settlements of `items` (never `Retry`: a held record is left unacknowledged,
    /// and the broker redelivers it when the connection closes) and flush.
    fn settle(
        live: &mut Self::Live,
        items: Vec<(Self::Receipt, Outcome)>,
    ) -> BoxFuture<'_, Result<(), String>>;

    /// Say goodbye: unacknowledged messages go back to their queues.
    fn goodbye(live: Self::Live) -> BoxFuture<'static, ()>;

    /// Let go of a connection the session lost (dropping it, unless the protocol shares
    /// the connection and has something to undo on it).
    fn abandon(live: Self::Live) -> BoxFuture<'static, ()> {
        drop(live);
        Box::pin(async {})
    }
}

/// The settle half of an ActiveMQ source.
pub(crate) struct BrokerAcker<W: Wire> {
    live: tokio::sync::Mutex<Option<W::Live>>,
    pub(crate) deliveries: Deliveries<W::Receipt>,
}

impl<W: Wire> Default for BrokerAcker<W> {
    fn default() -> Self {
        BrokerAcker {
            live: tokio::sync::Mutex::new(None),
            deliveries: Deliveries::default(),
        }
    }
}

impl<W: Wire> BrokerAcker<W> {
    /// A new session: earlier deliveries are stale from now on.
    pub(crate) async fn new_epoch(&self, epoch: u64, live: W::Live) {
        self.deliveries.new_epoch(epoch);
        *self.live.lock().await = Some(live);
    }

    /// Change the live connection's state, if there is one.
    pub(crate) async fn with_live(&self, f: impl FnOnce(&mut W::Live)) {
        if let Some(live) = self.live.lock().await.as_mut() {
            f(live);
        }
    }

    /// The connection is gone: nothing of it can be settled any more.
    pub(crate) async fn lost(&self) {
        self.deliveries.lost();
        if let Some(live) = self.live.lock().await.take() {
            bounded(W::abandon(live)).await;
        }
    }

    /// Write on the live session within the write timeout; false when there is none or the
    /// write failed. The shared connection ends itself when a write stalls (sooner than
    /// this), so a timeout here is a last resort: the session is given up for writing.
    pub(crate) async fn write(
        &self,
        what: &str,
        f: impl for<'a> FnOnce(&'a mut W::Live) -> BoxFuture<'a, Result<(), String>>,
    ) -> bool {
        let mut guard = self.live.lock().await;
        let Some(live) = guard.as_mut() else {
            return false;
        };
        match bounded(f(live)).await {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                warn!(error = %e, broker = W::NAME, "writing {what} failed");
                false
            }
            None => {
                warn!(
                    broker = W::NAME,
                    "writing {what} timed out; connection given up"
                );
                guard.take();
                false
            }
        }
    }

    /// Say goodbye and close: unacknowledged messages go back to their queues.
    pub(crate) async fn close(&self) {
        self.deliveries.lost();
        if let Some(live) = self.live.lock().await.take() {
            // Dropping the writer closes the socket anyway.
            bounded(W::goodbye(live)).await;
        }
    }
}

#[async_trait]
impl<W: Wire> Acker for BrokerAcker<W> {
    async fn settle(&self, settlements: &[(DeliveryId, Outcome)]) -> usize {
        let (mut items, stale) = self.deliveries.take(settlements);
        items.retain(|(_, o)| !matches!(o, Outcome::Retry { .. }));
        if !items.is_empty()
            && !self
                .write("settlements", move |live| W::settle(live, items))
                .await
        {
            warn!(
                broker = W::NAME,
                "settlements not written: the broker redelivers those messages"
            );
        }
        stale
    }

    fn live_epoch(&self) -> Option<u64> {
        Some(self.deliveries.live_epoch())
    }
}
