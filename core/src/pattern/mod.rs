//! Event patterns: the EventBridge pattern language that Lambda filter criteria and Pipes
//! filters use, compiled once per pipe and matched without allocating.
//!
//! Sluice follows AWS's open-source matcher, event-ruler (its `JsonRuleCompiler` and
//! array-consistent `rulesForJSONEvent`), read for its semantics; the code is our own:
//!
//! - `json.rs`: a strict JSON reader that keeps number literals, key order and byte offsets;
//!   `scan.rs`: the runs of string bytes and digits it passes over, eight bytes at a time.
//! - `compile.rs`: pattern → rules (`$or` forks), every validation rule and its message.
//! - `value.rs`: the operators and how each matches one value.
//! - `text.rs`: `wildcard` and `equals-ignore-case`; `number.rs`: which numbers compare;
//!   `cidr.rs`: addresses and blocks.
//! - `plan.rs`: the field names a set of patterns reads, as a tree the flattener follows.
//! - `flat.rs`: events flattened into reusable buffers, and the matching walk.
//!
//! The rules users meet, all as event-ruler has them:
//! - A value list matches when any entry matches; an event array matches when any element
//!   does; all keys of a pattern must match (AND); `$or` takes an array of two or more objects.
//! - Strings, numbers, `true`, `false` and `null` match exactly; `null` is not a missing key,
//!   and `""` matches only the empty string. Numbers compare as doubles (`5` = `5.0` =
//!   `5e0`), but only numbers a double holds exactly; others match by their text.
//! - String operators never match numbers, booleans or null; `anything-but` matches any value
//!   that is not excluded, of any type, but never a missing key.
//! - `exists` looks at leaves only: an object or an empty array is not there.
//! - Keys are flattened with dots, so `{"a.b": [1]}` and `{"a": {"b": [1]}}` are the same
//!   pattern; two keys inside array elements must come from the same element.

mod cidr;
mod compile;
mod flat;
pub(crate) mod json;
mod number;
mod plan;
mod scan;
mod text;
mod value;

#[cfg(test)]
mod tests;

pub use flat::{FlatEvent, MATCH_BUDGET};
pub use plan::PatternSet;

use crate::event::EventShape;
use crate::record::Record;
use compile::Rule;
use json::JsonError;

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    rules: Vec<Rule>,
}

/// Why a pattern is invalid, and where (line and column within the pattern text).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (pattern line {line}, column {column})")]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// Line in the pattern text, from 1.
    pub line: usize,
    /// Column in the pattern text, from 1.
    pub column: usize,
}

impl PatternError {
    fn at(text: &str, e: JsonError) -> Self {
        let (line, column) = json::line_col(text, e.offset);
        PatternError {
            message: e.message,
            line,
            column,
        }
    }
}

impl Pattern {
    /// Parse and compile a pattern (EventBridge's JSON syntax).
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let root = json::parse(text).map_err(|e| PatternError::at(text, e))?;
        let rules = compile::compile(&root).map_err(|e| PatternError::at(text, e))?;
        Ok(Pattern { rules })
    }
}

/// `sluice match`: test one pattern against one JSON event, like `TestEventPattern`.
pub fn test_event_pattern(pattern: &str, event: &str) -> Result<bool, String> {
    let p = Pattern::parse(pattern).map_err(|e| format!("invalid pattern: {e}"))?;
    let set = PatternSet::new(&[p]);
    let mut flat = FlatEvent::new();
    set.load(&mut flat, event.as_bytes()).map_err(|e| {
        let (line, column) = json::line_col(event, e.offset);
        format!(
            "invalid event: {} (event line {line}, column {column})",
            e.message
        )
    })?;
    Ok(set.matches_any(&mut flat))
}

/// A pipe's `filter`: records go on when any pattern matches.
///
/// Patterns see each record in its Lambda shape, with the shape's body key (`body`, `data`)
/// replaced by the decoded body: its JSON when the body is JSON, else the body as a
/// plain string, so a pattern that looks into the body never matches a body that is not JSON.
#[derive(Clone, Debug)]
pub struct Filter {
    patterns: PatternSet,
    body_key: &'static str,
}

impl Filter {
    /// A filter of `patterns` for records of `shape`.
    pub fn new(patterns: Vec<Pattern>, shape: &EventShape) -> Self {
        Filter {
            patterns: PatternSet::new(&patterns),
            body_key: shape.body_key,
        }
    }

    /// Whether `record` goes on. `scratch` is reused from record to record. A record whose
    /// event cannot be read (never expected: Sluice wrote it) goes on rather than being lost.
    pub fn accepts(&self, record: &Record, scratch: &mut FlatEvent) -> bool {
        match self
            .patterns
            .load_record(scratch, &record.event, self.body_key, &record.body)
        {
            Ok(()) => {
                let hit = self.patterns.matches_any(scratch);
                if scratch.over_budget() {
                    tracing::warn!(
                        budget = MATCH_BUDGET,
                        "record too complex to match within the budget: it goes on unfiltered"
                    );
                }
                hit
            }
            Err(_) => true,
        }
    }
}
