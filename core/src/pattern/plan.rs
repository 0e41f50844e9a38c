//! The fields a set of patterns reads, compiled into a tree of path steps.
//!
//! Matching a record first flattens its event, and most of an event is of no interest to any
//! pattern. The plan is a tree of the field names the patterns use (`detail` → `state`): the
//! flattener walks the event and the tree together, descends only into values the tree has a
//! step for, checks the rest without keeping it, and files each leaf it keeps under the number
//! of its path. Every key of every rule carries that number, so a key finds its fields without
//! building, sorting or comparing dotted names.

use super::compile::Rule;
use super::value::{Excluded, Matcher};

/// No field or no node.
pub(super) const NONE: u32 = u32::MAX;

/// What an event's member name leads to: a field (its leaves are kept under that number),
/// a node (its object's members are looked up there), or both, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub field: u32,
    pub node: u32,
}

impl Step {
    pub(super) const UNUSED: Step = Step {
        field: NONE,
        node: NONE,
    };

    pub(super) fn is_used(self) -> bool {
        self != Step::UNUSED
    }
}

/// The members one object may hold that some pattern reads. Names never contain a dot: a
/// pattern's dotted key is split into steps, and an event's dotted member name is followed step
/// by step ([`Plan::step`]).
#[derive(Clone, Debug, Default)]
struct Node {
    names: Vec<(Box<[u8]>, Step)>,
}

/// The tree of field names a set of patterns reads, and what each field needs.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// `nodes[0]` is the event's top-level object.
    nodes: Vec<Node>,
    /// Per field number: whether a matcher reads its values as numbers (parsing a number
    /// literal into a comparable double is the costly part of reading a number).
    numeric: Vec<bool>,
}

impl Plan {
    fn new() -> Self {
        Plan {
            nodes: vec![Node::default()],
            numeric: Vec::new(),
        }
    }

    /// The field number of a dotted path, adding the path's steps as needed.
    fn add_path(&mut self, dotted: &str) -> u32 {
        let mut node = 0usize;
        let mut steps = dotted.split('.').peekable();
        while let Some(name) = steps.next() {
            let last = steps.peek().is_none();
            let at = match self.nodes[node]
                .names
                .iter()
                .position(|(n, _)| &n[..] == name.as_bytes())
            {
                Some(at) => at,
                None => {
                    self.nodes[node]
                        .names
                        .push((name.as_bytes().into(), Step::UNUSED));
                    self.nodes[node].names.len() - 1
                }
            };
            let step = self.nodes[node].names[at].1;
            if last {
                if step.field != NONE {
                    return step.field;
                }
                let field = self.numeric.len() as u32;
                self.numeric.push(false);
                self.nodes[node].names[at].1.field = field;
                return field;
            }
            node = if step.node != NONE {
                step.node as usize
            } else {
                let child = self.nodes.len();
                self.nodes.push(Node::default());
                self.nodes[node].names[at].1.node = child as u32;
                child
            };
        }
        unreachable!("split yields at least one step")
    }

    /// Number of distinct fields the patterns read.
    pub(super) fn fields(&self) -> usize {
        self.numeric.len()
    }

    pub(super) fn numeric(&self, field: u32) -> bool {
        self.numeric[field as usize]
    }

    /// What member `name` of an object at `node` leads to.
    pub(super) fn step(&self, node: u32, name: &[u8]) -> Step {
        if let Some(step) = self.lookup(node, name) {
            return step;
        }
        if !name.contains(&b'.') {
            return Step::UNUSED;
        }
        // `{"a.b": 1}` is the field `a.b`, as `{"a": {"b": 1}}` is.
        let mut step = Step { field: NONE, node };
        for part in name.split(|&c| c == b'.') {
            if step.node == NONE {
                return Step::UNUSED;
            }
            match self.lookup(step.node, part) {
                Some(next) => step = next,
                None => return Step::UNUSED,
            }
        }
        step
    }

    fn lookup(&self, node: u32, name: &[u8]) -> Option<Step> {
        self.nodes[node as usize]
            .names
            .iter()
            .find(|(n, _)| n.len() == name.len() && &n[..] == name)
            .map(|&(_, step)| step)
    }
}

/// Patterns compiled together: one plan of the fields they read, and their rules with each key
/// numbered by its field.
#[derive(Clone, Debug)]
pub struct PatternSet {
    pub(super) plan: Plan,
    /// Per pattern, its rules (`$or` branches).
    pub(super) patterns: Vec<Vec<Rule>>,
}

impl PatternSet {
    /// Compile `patterns` together.
    pub fn new(patterns: &[super::Pattern]) -> PatternSet {
        let mut plan = Plan::new();
        let patterns = patterns
            .iter()
            .map(|p| {
                let mut rules = p.rules.clone();
                for key in rules.iter_mut().flat_map(|r| r.keys.iter_mut()) {
                    key.field = plan.add_path(&key.name);
                    if key.matchers.iter().any(reads_numbers) {
                        plan.numeric[key.field as usize] = true;
                    }
                }
                rules
            })
            .collect();
        PatternSet { plan, patterns }
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

fn reads_numbers(m: &Matcher) -> bool {
    matches!(
        m,
        Matcher::NumberEquals(_) | Matcher::Range { .. } | Matcher::Not(Excluded::Numbers(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_share_steps_and_dotted_names_are_followed() {
        let mut plan = Plan::new();
        let state = plan.add_path("detail.state");
        let detail = plan.add_path("detail");
        let count = plan.add_path("detail.count");
        assert_eq!(plan.add_path("detail.state"), state);
        assert_eq!(plan.fields(), 3);
        let top = plan.step(0, b"detail");
        assert_eq!(top.field, detail);
        assert_eq!(plan.step(top.node, b"state").field, state);
        assert_eq!(plan.step(top.node, b"count").field, count);
        assert_eq!(plan.step(0, b"detail.state").field, state);
        assert!(!plan.step(0, b"details").is_used());
        assert!(!plan.step(0, b"detail.other").is_used());
        assert!(!plan.step(0, b"state").is_used());
    }
}
