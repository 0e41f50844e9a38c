//! Events flattened the way event-ruler sees them, and the matching walk.
//!
//! Every leaf becomes a field named by its dotted path (`detail.state`); array elements that
//! are scalars become several fields of one name; objects inside arrays record which element
//! of which array they came from ("array membership"). A rule matches when each of its keys
//! has a field whose value matches one of the key's operands, and no two chosen fields come
//! from different elements of the same array. `exists: false` holds when no field of that
//! name is consistent with the elements the keys before it chose.
//!
//! Matching backtracks over the fields a key may choose, and keys in different arrays multiply
//! the choices: a hostile event (several large arrays) could make that walk take time
//! exponential in the number of keys. Each match has a budget of [`MATCH_BUDGET`] steps; an
//! event that exhausts it is taken as matching (it goes on to the target rather than being
//! dropped as filtered) and [`FlatEvent::over_budget`] says so.
//!
//! A [`FlatEvent`] is a set of reusable buffers: loading the next event clears them, so after
//! warm-up flattening and matching allocate nothing.
//!
//! Only the fields some pattern reads are kept: the flattener walks the event along the
//! patterns' [`Plan`](super::plan) and checks everything else without keeping it, so an
//! invalid event is refused whichever part of it is invalid.

use super::compile::Rule;
use super::json::{JsonError, MAX_DEPTH, Reader};
use super::number::comparable;
use super::plan::{NONE, PatternSet, Plan, Step};
use super::value::Value;

#[derive(Clone, Copy, Debug)]
struct Field {
    text: (u32, u32),
    /// NaN when the value is not a number a double holds exactly, or no matcher reads its
    /// path as a number.
    number: f64,
    members: (u32, u32),
    /// The next field of the same path, or `NONE`.
    next: u32,
}

/// Steps of the matching walk one event may take over all patterns of a filter.
pub const MATCH_BUDGET: u32 = 100_000;

/// A flattened event (reusable buffers).
#[derive(Debug, Default)]
pub struct FlatEvent {
    /// Steps left for matching this event; refilled when an event is loaded.
    budget: u32,
    over_budget: bool,
    /// Leaf values as event-ruler sees them (strings with their quotes).
    bytes: Vec<u8>,
    fields: Vec<Field>,
    /// Per field number of the plan: its first and last field (`NONE` when there is none).
    paths: Vec<(u32, u32)>,
    members: Vec<(u32, u32)>,
    membership: Vec<(u32, u32)>,
    arrays: u32,
    scratch: Vec<u8>,
    chosen: Vec<(u32, u32)>,
}

impl PatternSet {
    /// Flatten a JSON object: the fields these patterns read.
    pub fn load(&self, event: &mut FlatEvent, json: &[u8]) -> Result<(), JsonError> {
        event.load_with(&self.plan, json, None)
    }

    /// Flatten a record's event, with the value of its top-level `body_key` (from the
    /// connector's event shape) replaced by the record's body: the decoded JSON when the body
    /// is JSON, else the body as a string (when it is UTF-8).
    pub fn load_record(
        &self,
        event: &mut FlatEvent,
        json: &[u8],
        body_key: &str,
        body: &[u8],
    ) -> Result<(), JsonError> {
        event.load_with(&self.plan, json, Some((body_key.as_bytes(), body)))
    }

    /// Whether pattern `index` matches the loaded event; `true` too when the walk ran out of
    /// budget.
    pub fn matches(&self, index: usize, event: &mut FlatEvent) -> bool {
        event.matches_any(&self.patterns[index])
    }

    /// Whether any pattern matches the loaded event.
    pub fn matches_any(&self, event: &mut FlatEvent) -> bool {
        self.patterns.iter().any(|rules| event.matches_any(rules))
    }
}

impl FlatEvent {
    /// An empty event, its buffers ready for reuse.
    pub fn new() -> Self {
        Self::default()
    }

    fn clear(&mut self, plan: &Plan) {
        self.bytes.clear();
        self.fields.clear();
        self.paths.clear();
        self.paths.resize(plan.fields(), (NONE, NONE));
        self.members.clear();
        self.membership.clear();
        self.arrays = 0;
        self.budget = MATCH_BUDGET;
        self.over_budget = false;
    }

    /// Whether matching this event ran out of its step budget (and was taken as matching).
    pub fn over_budget(&self) -> bool {
        self.over_budget
    }

    fn load_with(
        &mut self,
        plan: &Plan,
        json: &[u8],
        body: Option<(&[u8], &[u8])>,
    ) -> Result<(), JsonError> {
        self.clear(plan);
        let mut r = Reader::new(json);
        if r.peek() != Some(b'{') {
            return r.error("an event must be a JSON object");
        }
        self.object(&mut r, plan, 0, 0, body).and_then(|_| r.end())
    }

    fn object(
        &mut self,
        r: &mut Reader<'_>,
        plan: &Plan,
        node: u32,
        depth: usize,
        body: Option<(&[u8], &[u8])>,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return r.error("JSON nested too deeply");
        }
        r.expect(b'{')?;
        if r.peek() == Some(b'}') {
            r.pos += 1;
            return Ok(());
        }
        loop {
            let (step, is_body) = self.member(r, plan, node, body.map(|(k, _)| k))?;
            r.expect(b':')?;
            if !step.is_used() {
                r.skip_value(depth + 1)?;
            } else if let (true, Some((_, raw))) = (is_body, body) {
                let start = r.pos;
                r.skip_value(depth + 1)?;
                let original = &r.bytes[start..r.pos];
                self.body(raw, original, plan, step, depth)?;
            } else {
                self.value(r, plan, step, depth + 1)?;
            }
            if !r.comma_or(b'}')? {
                return Ok(());
            }
        }
    }

    /// A member's name: what it leads to in the plan, and whether it is the body key.
    fn member(
        &mut self,
        r: &mut Reader<'_>,
        plan: &Plan,
        node: u32,
        body_key: Option<&[u8]>,
    ) -> Result<(Step, bool), JsonError> {
        let named = |name: &[u8]| (plan.step(node, name), body_key == Some(name));
        if let Some(name) = r.plain_string()? {
            return Ok(named(name));
        }
        self.scratch.clear();
        let mut name = std::mem::take(&mut self.scratch);
        let res = r.string_into(&mut name).map(|_| named(&name));
        self.scratch = name;
        res
    }

    /// The decoded body in place of the event's `body`/`data` value.
    fn body(
        &mut self,
        raw: &[u8],
        original: &[u8],
        plan: &Plan,
        step: Step,
        depth: usize,
    ) -> Result<(), JsonError> {
        let marks = (self.bytes.len(), self.fields.len(), self.members.len());
        let (arrays, depth_in) = (self.arrays, self.membership.len());
        let mut r = Reader::new(raw);
        if r.peek().is_some()
            && self
                .value(&mut r, plan, step, depth + 1)
                .and_then(|_| r.end())
                .is_ok()
        {
            return Ok(());
        }
        // Not JSON: roll back what was added and use the body as a plain string.
        self.bytes.truncate(marks.0);
        self.fields.truncate(marks.1);
        self.members.truncate(marks.2);
        self.arrays = arrays;
        self.membership.truncate(depth_in);
        self.unlink(marks.1);
        if step.field == NONE {
            // Only paths inside the body are read: a body that is not JSON has none of them.
            Ok(())
        } else if std::str::from_utf8(raw).is_ok() {
            let start = self.bytes.len();
            self.bytes.push(b'"');
            self.bytes.extend_from_slice(raw);
            self.bytes.push(b'"');
            self.push_field(step.field, start, f64::NAN);
            Ok(())
        } else {
            self.value(&mut Reader::new(original), plan, step, depth + 1)
        }
    }

    /// Drop the links to fields from `kept` on, after those fields were removed.
    fn unlink(&mut self, kept: usize) {
        let kept = kept as u32;
        for p in 0..self.paths.len() {
            let (first, _) = self.paths[p];
            if first == NONE || first >= kept {
                self.paths[p] = (NONE, NONE);
                continue;
            }
            // Walk to the last field still kept and end the list there.
            let mut last = first;
            while self.fields[last as usize].next != NONE && self.fields[last as usize].next < kept
            {
                last = self.fields[last as usize].next;
            }
            self.fields[last as usize].next = NONE;
            self.paths[p] = (first, last);
        }
    }

    fn value(
        &mut self,
        r: &mut Reader<'_>,
        plan: &Plan,
        step: Step,
        depth: usize,
    ) -> Result<(), JsonError> {
        match r.peek() {
            Some(b'{') if step.node != NONE => self.object(r, plan, step.node, depth, None),
            Some(b'[') => self.array(r, plan, step, depth),
            Some(_) if step.field == NONE => r.skip_value(depth),
            Some(b'"') => {
                let start = self.bytes.len();
                match r.plain_string_quoted()? {
                    Some(text) => self.bytes.extend_from_slice(text),
                    None => {
                        self.bytes.push(b'"');
                        let mut buf = std::mem::take(&mut self.bytes);
                        let res = r.string_into(&mut buf);
                        self.bytes = buf;
                        res?;
                        self.bytes.push(b'"');
                    }
                }
                self.push_field(step.field, start, f64::NAN);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let lit = r.number()?;
                let start = self.bytes.len();
                self.bytes.extend_from_slice(lit);
                let number = if plan.numeric(step.field) {
                    std::str::from_utf8(lit)
                        .ok()
                        .and_then(comparable)
                        .unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                };
                self.push_field(step.field, start, number);
                Ok(())
            }
            Some(b'{') => r.skip_value(depth),
            _ => {
                let lit = r.literal()?;
                let start = self.bytes.len();
                self.bytes.extend_from_slice(lit.as_bytes());
                self.push_field(step.field, start, f64::NAN);
                Ok(())
            }
        }
    }

    fn array(
        &mut self,
        r: &mut Reader<'_>,
        plan: &Plan,
        step: Step,
        depth: usize,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return r.error("JSON nested too deeply");
        }
        r.expect(b'[')?;
        let id = self.arrays;
        self.arrays += 1;
        if r.peek() == Some(b']') {
            r.pos += 1;
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            match r.peek() {
                Some(b'{' | b'[') => {
                    self.membership.push((id, index));
                    let res = self.value(r, plan, step, depth + 1);
                    self.membership.pop();
                    res?;
                }
                _ => self.value(r, plan, step, depth + 1)?,
            }
            index += 1;
            if !r.comma_or(b']')? {
                return Ok(());
            }
        }
    }

    /// A leaf of path `path` whose text was just appended at `start`.
    fn push_field(&mut self, path: u32, start: usize, number: f64) {
        let index = self.fields.len() as u32;
        let m_start = self.members.len();
        self.members.extend_from_slice(&self.membership);
        self.fields.push(Field {
            text: (start as u32, self.bytes.len() as u32),
            number,
            members: (m_start as u32, self.members.len() as u32),
            next: NONE,
        });
        let (first, last) = &mut self.paths[path as usize];
        if *first == NONE {
            *first = index;
        } else {
            self.fields[*last as usize].next = index;
        }
        *last = index;
    }

    /// The fields of path `path`, in event order.
    fn of_path(&self, path: u32) -> impl Iterator<Item = &Field> + Clone + '_ {
        let first = self.paths.get(path as usize).map_or(NONE, |p| p.0);
        std::iter::successors((first != NONE).then(|| &self.fields[first as usize]), |f| {
            (f.next != NONE).then(|| &self.fields[f.next as usize])
        })
    }

    fn value_of(&self, f: &Field) -> Value<'_> {
        Value {
            text: &self.bytes[f.text.0 as usize..f.text.1 as usize],
            number: (!f.number.is_nan()).then_some(f.number),
        }
    }

    fn members_of(&self, f: &Field) -> &[(u32, u32)] {
        &self.members[f.members.0 as usize..f.members.1 as usize]
    }

    /// Capacities of every buffer: unchanged from one event to the next once warmed up,
    /// which is what "no allocation per event" means here.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> [usize; 7] {
        [
            self.bytes.capacity(),
            self.fields.capacity(),
            self.members.capacity(),
            self.paths.capacity(),
            self.membership.capacity(),
            self.scratch.capacity(),
            self.chosen.capacity(),
        ]
    }

    /// Whether any of `rules` matches this event; `true` too when the walk ran out of budget.
    fn matches_any(&mut self, rules: &[Rule]) -> bool {
        if self.over_budget {
            return true;
        }
        let mut chosen = std::mem::take(&mut self.chosen);
        let mut budget = self.budget;
        let mut hit = false;
        for rule in rules {
            chosen.clear();
            match self.walk(rule, 0, &mut chosen, &mut budget) {
                Some(false) => {}
                Some(true) => {
                    hit = true;
                    break;
                }
                None => {
                    self.over_budget = true;
                    hit = true;
                    break;
                }
            }
        }
        self.budget = budget;
        self.chosen = chosen;
        hit
    }

    /// `None` when the budget ran out.
    fn walk(
        &self,
        rule: &Rule,
        i: usize,
        chosen: &mut Vec<(u32, u32)>,
        budget: &mut u32,
    ) -> Option<bool> {
        *budget = budget.checked_sub(1)?;
        let Some(key) = rule.keys.get(i) else {
            return Some(true);
        };
        let fields = self.of_path(key.field);
        if key.absent
            && !fields
                .clone()
                .any(|f| consistent(chosen, self.members_of(f)))
            && self.walk(rule, i + 1, chosen, budget)?
        {
            return Some(true);
        }
        for field in fields {
            *budget = budget.checked_sub(1)?;
            let value = self.value_of(field);
            if !key.matchers.iter().any(|m| m.matches(&value)) {
                continue;
            }
            let mark = chosen.len();
            if join(chosen, self.members_of(field)) && self.walk(rule, i + 1, chosen, budget)? {
                return Some(true);
            }
            chosen.truncate(mark);
        }
        Some(false)
    }
}

/// No array appears in both with different elements.
fn consistent(chosen: &[(u32, u32)], field: &[(u32, u32)]) -> bool {
    field
        .iter()
        .all(|(a, i)| chosen.iter().all(|(b, j)| a != b || i == j))
}

/// Add a field's memberships to the chosen ones, or `false` if they conflict.
fn join(chosen: &mut Vec<(u32, u32)>, field: &[(u32, u32)]) -> bool {
    for &(a, i) in field {
        match chosen.iter().find(|(b, _)| *b == a) {
            Some(&(_, j)) if j != i => return false,
            Some(_) => {}
            None => chosen.push((a, i)),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::pattern::{FlatEvent, Pattern, PatternSet};

    fn set(pattern: &str) -> PatternSet {
        PatternSet::new(&[Pattern::parse(pattern).unwrap()])
    }

    /// Three arrays of 200 objects: every choice of `a` and `b` is consistent, and `c.z`
    /// never matches, so an unbounded walk would try 200 x 200 x 200 combinations.
    #[test]
    fn a_walk_that_would_explode_is_cut_off_and_taken_as_matching() {
        let array = |key: &str, v: &str| {
            let items: Vec<String> = (0..200).map(|_| format!("{{\"{key}\":{v}}}")).collect();
            format!("[{}]", items.join(","))
        };
        let event = format!(
            "{{\"a\":{},\"b\":{},\"c\":{}}}",
            array("x", "1"),
            array("y", "1"),
            array("z", "2")
        );
        let hostile = set(r#"{"a":{"x":[1]},"b":{"y":[1]},"c":{"z":[3]}}"#);
        let mut flat = FlatEvent::new();
        hostile.load(&mut flat, event.as_bytes()).unwrap();
        assert!(
            hostile.matches_any(&mut flat),
            "taken as matching, not dropped"
        );
        assert!(flat.over_budget());
        // The next event gets a fresh budget, and ordinary patterns are not affected.
        let simple = set(r#"{"a":{"x":[1]}}"#);
        simple.load(&mut flat, event.as_bytes()).unwrap();
        assert!(simple.matches_any(&mut flat));
        assert!(!flat.over_budget());
        let miss = set(r#"{"c":{"z":[3]}}"#);
        miss.load(&mut flat, event.as_bytes()).unwrap();
        assert!(!miss.matches_any(&mut flat));
        assert!(!flat.over_budget());
    }

    fn mutate(rng: &mut fastrand::Rng, seed: &str) -> String {
        let mut text: Vec<char> = seed.chars().collect();
        for _ in 0..rng.usize(0..4) {
            if text.is_empty() {
                break;
            }
            let i = rng.usize(..text.len());
            let c = [
                '{', '}', '[', ']', '"', ':', ',', '*', '\\', '1', 'e', '-', '.', 'é', '\u{0}',
            ][rng.usize(..15)];
            match rng.u8(0..3) {
                0 => text[i] = c,
                1 => {
                    text.remove(i);
                }
                _ => text.insert(i, c),
            }
        }
        text.into_iter().collect()
    }

    /// Whatever a pattern or an event holds: parsed or refused, matched or not, never a panic.
    #[test]
    fn no_pattern_or_event_makes_matching_panic() {
        let patterns = [
            r#"{"a":[{"prefix":"x"}],"b":{"c":[{"numeric":[">",1,"<=",1e308]}]}}"#,
            r#"{"$or":[{"a":[{"wildcard":"*x*y\\*"}]},{"b":[{"anything-but":{"suffix":"z"}}]}]}"#,
            r#"{"ip":[{"cidr":"10.0.0.0/8"}],"e":[{"exists":false}],"i":[{"equals-ignore-case":"ÄB"}]}"#,
        ];
        let events = [
            r#"{"a":"xay","b":{"c":[1,2,1e400,-0.0,12345678901234567890]},"ip":"10.1.2.3"}"#,
            r#"{"a":[{"x":[[1,{"y":"\u0000\ud800"}]]}],"b":[{"c":1},{"c":"s"}],"i":"äb"}"#,
        ];
        let mut rng = fastrand::Rng::with_seed(9);
        let mut flat = FlatEvent::new();
        for _ in 0..20_000 {
            let (pi, ei) = (rng.usize(..patterns.len()), rng.usize(..events.len()));
            let p = mutate(&mut rng, patterns[pi]);
            let e = mutate(&mut rng, events[ei]);
            if let Ok(p) = Pattern::parse(&p) {
                let set = PatternSet::new(&[p]);
                if set.load(&mut flat, e.as_bytes()).is_ok() {
                    let _ = set.matches_any(&mut flat);
                }
            }
        }
    }
}
