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

use super::compile::Rule;
use super::json::{JsonError, MAX_DEPTH, Reader};
use super::number::comparable;
use super::value::Value;
use std::ops::Range;

#[derive(Clone, Copy, Debug)]
struct Field {
    name: (u32, u32),
    text: (u32, u32),
    /// NaN when the value is not a number a double holds exactly.
    number: f64,
    members: (u32, u32),
}

/// Field names (path steps) some pattern uses; values under other names are skipped while
/// flattening, as event-ruler does. Kept sorted (`by_name`), and looked up by bytes with a
/// binary search: the lookup runs for every key of every event.
#[derive(Clone, Debug, Default)]
pub struct Steps(Vec<Box<[u8]>>);

impl Steps {
    /// Flatten also the value at `dotted` (a path a pattern looks at).
    pub fn add_path(&mut self, dotted: &str) {
        for step in dotted.split('.') {
            if let Err(at) = self.0.binary_search_by(|s| by_name(s, step.as_bytes())) {
                self.0.insert(at, step.as_bytes().into());
            }
        }
    }

    fn has(&self, step: &[u8]) -> bool {
        self.0.binary_search_by(|s| by_name(s, step)).is_ok()
    }

    fn used(&self, key: &[u8]) -> bool {
        self.has(key) || (key.contains(&b'.') && key.split(|&c| c == b'.').all(|s| self.has(s)))
    }
}

/// The order names are kept in for lookups: by length, then by bytes. Any total order finds a
/// name; this one settles most comparisons on the length, without a `memcmp` call.
fn by_name(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Steps of the matching walk one event may take over all patterns of a filter.
pub const MATCH_BUDGET: u32 = 100_000;

/// A flattened event (reusable buffers).
#[derive(Debug, Default)]
pub struct FlatEvent {
    /// Steps left for matching this event; refilled when an event is loaded.
    budget: u32,
    over_budget: bool,
    bytes: Vec<u8>,
    fields: Vec<Field>,
    members: Vec<(u32, u32)>,
    path: Vec<u8>,
    membership: Vec<(u32, u32)>,
    arrays: u32,
    scratch: Vec<u8>,
    chosen: Vec<(u32, u32)>,
}

/// Where the flattener is; kept apart from the buffers it fills.
struct Walk<'s> {
    steps: Option<&'s Steps>,
}

impl FlatEvent {
    /// An empty event, its buffers ready for reuse.
    pub fn new() -> Self {
        Self::default()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.fields.clear();
        self.members.clear();
        self.path.clear();
        self.membership.clear();
        self.arrays = 0;
        self.budget = MATCH_BUDGET;
        self.over_budget = false;
    }

    /// Whether matching this event ran out of its step budget (and was taken as matching).
    pub fn over_budget(&self) -> bool {
        self.over_budget
    }

    /// Flatten a JSON object. `steps` (if given) limits the work to names some pattern uses.
    pub fn load(&mut self, json: &[u8], steps: Option<&Steps>) -> Result<(), JsonError> {
        self.load_with(json, None, steps)
    }

    /// Flatten a record's event, with the value of its top-level `body_key` (from the connector's
    /// event shape) replaced by the record's body: the decoded JSON when
    /// the body is JSON, else the body as a string (when it is UTF-8).
    pub fn load_record(
        &mut self,
        event: &[u8],
        body_key: &str,
        body: &[u8],
        steps: Option<&Steps>,
    ) -> Result<(), JsonError> {
        self.load_with(event, Some((body_key.as_bytes(), body)), steps)
    }

    fn load_with(
        &mut self,
        json: &[u8],
        body: Option<(&[u8], &[u8])>,
        steps: Option<&Steps>,
    ) -> Result<(), JsonError> {
        self.clear();
        let mut r = Reader::new(json);
        if r.peek() != Some(b'{') {
            return r.error("an event must be a JSON object");
        }
        let walk = Walk { steps };
        let result = self.object(&mut r, &walk, 0, body).and_then(|_| r.end());
        self.finish();
        result
    }

    fn finish(&mut self) {
        let bytes = &self.bytes;
        let name = |f: &Field| &bytes[f.name.0 as usize..f.name.1 as usize];
        self.fields
            .sort_unstable_by(|a, b| by_name(name(a), name(b)));
    }

    fn object(
        &mut self,
        r: &mut Reader<'_>,
        walk: &Walk<'_>,
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
            self.scratch.clear();
            let mut key = std::mem::take(&mut self.scratch);
            r.string_into(&mut key)?;
            r.expect(b':')?;
            let used = walk.steps.is_none_or(|s| s.used(&key));
            let path_len = self.path.len();
            if used {
                if !self.path.is_empty() {
                    self.path.push(b'.');
                }
                self.path.extend_from_slice(&key);
            }
            let is_body = body.is_some_and(|(k, _)| k == key.as_slice());
            self.scratch = key;
            if !used {
                r.skip_value(depth + 1)?;
            } else if let (true, Some((_, raw))) = (is_body, body) {
                let start = r.pos;
                r.skip_value(depth + 1)?;
                let original = &r.bytes[start..r.pos];
                self.body(raw, original, walk, depth)?;
            } else {
                self.value(r, walk, depth + 1)?;
            }
            self.path.truncate(path_len);
            if !r.comma_or(b'}')? {
                return Ok(());
            }
        }
    }

    /// The decoded body in place of the event's `body`/`data` value.
    fn body(
        &mut self,
        raw: &[u8],
        original: &[u8],
        walk: &Walk<'_>,
        depth: usize,
    ) -> Result<(), JsonError> {
        let marks = (self.bytes.len(), self.fields.len(), self.members.len());
        let (arrays, path_len, depth_in) = (self.arrays, self.path.len(), self.membership.len());
        let mut r = Reader::new(raw);
        if r.peek().is_some()
            && self
                .value(&mut r, walk, depth + 1)
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
        self.path.truncate(path_len);
        self.membership.truncate(depth_in);
        if std::str::from_utf8(raw).is_ok() {
            let start = self.bytes.len();
            self.bytes.push(b'"');
            self.bytes.extend_from_slice(raw);
            self.bytes.push(b'"');
            self.push_field(start, f64::NAN);
            Ok(())
        } else {
            self.value(&mut Reader::new(original), walk, depth + 1)
        }
    }

    fn value(
        &mut self,
        r: &mut Reader<'_>,
        walk: &Walk<'_>,
        depth: usize,
    ) -> Result<(), JsonError> {
        match r.peek() {
            Some(b'{') => self.object(r, walk, depth, None),
            Some(b'[') => self.array(r, walk, depth),
            Some(b'"') => {
                let start = self.bytes.len();
                self.bytes.push(b'"');
                let mut buf = std::mem::take(&mut self.bytes);
                let res = r.string_into(&mut buf);
                self.bytes = buf;
                res?;
                self.bytes.push(b'"');
                self.push_field(start, f64::NAN);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let lit = r.number()?;
                let start = self.bytes.len();
                self.bytes.extend_from_slice(lit.as_bytes());
                self.push_field(start, comparable(lit).unwrap_or(f64::NAN));
                Ok(())
            }
            _ => {
                let lit = r.literal()?;
                let start = self.bytes.len();
                self.bytes.extend_from_slice(lit.as_bytes());
                self.push_field(start, f64::NAN);
                Ok(())
            }
        }
    }

    fn array(
        &mut self,
        r: &mut Reader<'_>,
        walk: &Walk<'_>,
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
                    let res = self.value(r, walk, depth + 1);
                    self.membership.pop();
                    res?;
                }
                _ => self.value(r, walk, depth + 1)?,
            }
            index += 1;
            if !r.comma_or(b']')? {
                return Ok(());
            }
        }
    }

    /// A leaf whose text was just appended at `start`.
    fn push_field(&mut self, start: usize, number: f64) {
        let text = (start as u32, self.bytes.len() as u32);
        let name_start = self.bytes.len();
        self.bytes.extend_from_slice(&self.path);
        let name = (name_start as u32, self.bytes.len() as u32);
        let m_start = self.members.len();
        self.members.extend_from_slice(&self.membership);
        self.fields.push(Field {
            name,
            text,
            number,
            members: (m_start as u32, self.members.len() as u32),
        });
    }

    fn named(&self, name: &str) -> Range<usize> {
        let bytes = &self.bytes;
        let key = name.as_bytes();
        let of = |f: &Field| &bytes[f.name.0 as usize..f.name.1 as usize];
        let lo = self
            .fields
            .partition_point(|f| by_name(of(f), key) == std::cmp::Ordering::Less);
        let hi = lo + self.fields[lo..].partition_point(|f| of(f) == key);
        lo..hi
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
            self.path.capacity(),
            self.membership.capacity(),
            self.scratch.capacity(),
            self.chosen.capacity(),
        ]
    }

    /// Whether any of `rules` matches this event; `true` too when the walk ran out of budget.
    pub fn matches_any(&mut self, rules: &[Rule]) -> bool {
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
        let fields = self.named(&key.name);
        if key.absent
            && !fields
                .clone()
                .any(|f| consistent(chosen, self.members_of(&self.fields[f])))
            && self.walk(rule, i + 1, chosen, budget)?
        {
            return Some(true);
        }
        for f in fields {
            *budget = budget.checked_sub(1)?;
            let field = &self.fields[f];
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
    use crate::pattern::{FlatEvent, Pattern};

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
        let hostile = Pattern::parse(r#"{"a":{"x":[1]},"b":{"y":[1]},"c":{"z":[3]}}"#).unwrap();
        let mut flat = FlatEvent::new();
        flat.load(event.as_bytes(), None).unwrap();
        assert!(hostile.matches(&mut flat), "taken as matching, not dropped");
        assert!(flat.over_budget());
        // The next event gets a fresh budget, and ordinary patterns are not affected.
        let simple = Pattern::parse(r#"{"a":{"x":[1]}}"#).unwrap();
        flat.load(event.as_bytes(), None).unwrap();
        assert!(simple.matches(&mut flat));
        assert!(!flat.over_budget());
        let miss = Pattern::parse(r#"{"c":{"z":[3]}}"#).unwrap();
        assert!(!miss.matches(&mut flat));
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
            if let Ok(p) = Pattern::parse(&p)
                && flat.load(e.as_bytes(), None).is_ok()
            {
                let _ = p.matches(&mut flat);
            }
        }
    }
}
