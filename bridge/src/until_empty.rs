//! `sluice run --until-empty`: run until every source is empty and nothing is in flight, then
//! drain, exit 0 and print what each pipe moved. With a dead-letter queue as the source and the
//! original queue as the target it is a redrive, for every broker kind.
//!
//! A pipe counts as empty when it is connected, holds no record (`sluice_source_inflight_messages`
//! is 0), its broker reports no backlog, and it has received nothing for [`QUIET`]: long enough
//! for a prefetching consumer or a long poll to have handed over anything still queued, and for
//! the brokers' backlog reports to have caught up. Disabled pipes do not count. A pipe that
//! cannot connect, or whose records keep failing, is never empty: the run goes on until it is,
//! or until a signal stops it as usual.

use crate::admin::PipeView;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How long every source must stay empty and idle.
pub(crate) const QUIET: Duration = Duration::from_secs(3);
/// How often the pipes are looked at.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Watches the pipes for the moment every source is empty.
#[derive(Default)]
pub(crate) struct EmptyWatch {
    /// Per pipe: records received when it was last seen busy or receiving, and since when it
    /// has been empty.
    idle: HashMap<String, (u64, Instant)>,
}

impl EmptyWatch {
    /// Whether every enabled pipe has been empty and idle for [`QUIET`].
    pub(crate) fn all_empty(&mut self, views: &[Arc<PipeView>], now: Instant) -> bool {
        let mut all = true;
        for v in views {
            if !v.enabled.load(Ordering::Relaxed) {
                continue;
            }
            let m = &v.metrics;
            let received = m.source_messages.get();
            let empty_now = m.up.get() == 1 && m.source_inflight.get() == 0 && m.backlog.get() == 0;
            let entry = self.idle.entry(v.name.clone()).or_insert((received, now));
            if !empty_now || entry.0 != received {
                *entry = (received, now);
            }
            all &= empty_now && now.duration_since(entry.1) >= QUIET;
        }
        all
    }
}

/// One line per pipe: what it moved during this run.
pub(crate) fn summary(views: &[Arc<PipeView>]) -> String {
    let mut out = String::new();
    for v in views {
        let m = &v.metrics;
        out.push_str(&format!(
            "{}: received {}, delivered {}, filtered {}, dead-lettered {}, given up to the broker {}, dropped {}\n",
            v.name,
            m.source_messages.get(),
            m.delivered.get(),
            m.filtered.get(),
            m.dead_lettered.get(),
            m.broker_dead_lettered.get(),
            m.dropped_oversize.get(),
        ));
    }
    out
}
