//! Order per message group, for ordered pipes (a FIFO queue's message groups).
//!
//! Lambda's rule for FIFO queues: a batch may mix groups, different groups go in parallel,
//! and "the function attempts all retries on the affected messages before Lambda receives
//! additional messages from the same group". The runner keeps it with two rules:
//!
//! - a job starts only when none of its groups has a batch in flight, is held for a retry, or
//!   appears in an older job still waiting;
//! - when a record fails, the records after it in the same batch and group are held back with
//!   it (not acknowledged even if the target took them) and go back together.

use super::{Dest, Job};
use crate::record::Record;
use std::collections::{HashMap, HashSet, VecDeque};

/// The distinct groups of a batch.
pub(super) fn groups(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in records.iter().filter_map(|r| r.meta.group_id.as_deref()) {
        if !out.iter().any(|x| x == g) {
            out.push(g.to_owned());
        }
    }
    out
}

/// Position of the oldest ready job that may start now.
pub(super) fn first_free<'a>(
    ready: &VecDeque<Job>,
    busy: &HashMap<String, usize>,
    held: impl Iterator<Item = &'a Job>,
) -> Option<usize> {
    let mut claimed: HashSet<&str> = held
        .filter(|j| j.dest == Dest::Target)
        .flat_map(|j| j.records.iter().filter_map(|r| r.meta.group_id.as_deref()))
        .collect();
    for (i, job) in ready.iter().enumerate() {
        // Dead letters leave the stream; their order no longer matters.
        if job.dest == Dest::DeadLetter {
            return Some(i);
        }
        let mut ids = job
            .records
            .iter()
            .filter_map(|r| r.meta.group_id.as_deref());
        if ids.all(|g| !busy.contains_key(g) && !claimed.contains(g)) {
            return Some(i);
        }
        claimed.extend(
            job.records
                .iter()
                .filter_map(|r| r.meta.group_id.as_deref()),
        );
    }
    None
}

/// A batch after its delivery: what failed, what is held back behind a failure, what is done.
pub(super) struct Fates {
    pub failed: Vec<Record>,
    pub held_back: Vec<Record>,
    pub delivered: Vec<Record>,
}

/// Split a batch by the positions the target reported as failed. With `ordered`, every record
/// after a failed one in the same group is held back.
pub(super) fn partition(records: Vec<Record>, failed: &[usize], ordered: bool) -> Fates {
    let mut is_failed = vec![false; records.len()];
    for &i in failed {
        if let Some(f) = is_failed.get_mut(i) {
            *f = true;
        }
    }
    let mut fates = Fates {
        failed: Vec::with_capacity(failed.len()),
        held_back: Vec::new(),
        delivered: Vec::with_capacity(records.len().saturating_sub(failed.len())),
    };
    let mut stopped: Vec<String> = Vec::new();
    for (r, failed) in records.into_iter().zip(is_failed) {
        let group = r.meta.group_id.as_deref().filter(|_| ordered);
        if failed {
            if let Some(g) = group
                && !stopped.iter().any(|s| s == g)
            {
                stopped.push(g.to_owned());
            }
            fates.failed.push(r);
        } else if group.is_some_and(|g| stopped.iter().any(|s| s == g)) {
            fates.held_back.push(r);
        } else {
            fates.delivered.push(r);
        }
    }
    fates
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::record;

    fn grouped(n: u64, g: &str) -> Record {
        let mut r = record(n);
        r.meta.group_id = Some(g.into());
        r
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.id.seq).collect()
    }

    #[test]
    fn a_failure_holds_back_its_groups_successors_only() {
        let batch = vec![
            grouped(1, "a"),
            grouped(2, "a"),
            grouped(3, "b"),
            grouped(4, "a"),
            grouped(5, "b"),
        ];
        let f = partition(batch.clone(), &[1], true);
        assert_eq!(seqs(&f.failed), [2]);
        assert_eq!(seqs(&f.held_back), [4]);
        assert_eq!(seqs(&f.delivered), [1, 3, 5]);
        let f = partition(batch, &[1], false);
        assert_eq!(seqs(&f.held_back), Vec::<u64>::new());
        assert_eq!(seqs(&f.delivered), [1, 3, 4, 5]);
    }

    #[test]
    fn a_job_waits_for_its_groups() {
        let job = |recs: Vec<Record>| Job {
            dest: Dest::Target,
            records: recs,
        };
        let ready: VecDeque<Job> = vec![
            job(vec![grouped(1, "a"), grouped(2, "b")]),
            job(vec![grouped(3, "b")]),
            job(vec![grouped(4, "c")]),
        ]
        .into();
        let none = HashMap::new();
        assert_eq!(first_free(&ready, &none, std::iter::empty()), Some(0));
        let busy_a: HashMap<String, usize> = [("a".to_owned(), 1)].into();
        // Job 1 shares "b" with the blocked job 0, so it waits too.
        assert_eq!(first_free(&ready, &busy_a, std::iter::empty()), Some(2));
        let held = [job(vec![grouped(9, "c")])];
        assert_eq!(first_free(&ready, &busy_a, held.iter()), None);
    }
}
