//! Events flattened the way event-ruler sees them, and the matching walk.
//!
//! Every leaf becomes a field named by its dotted path (`detail.state`); array elements that
//! are scalars become several fields of one name; objects inside arrays record which element
//! of which array they came from ("array membership"). A rule matches when each of its keys
//! has a field whose value matches one of the key's operands, and no two chosen fields come
//! from different elements of the same array. `exists: false` holds when no field of that
//! name is consistent with the elements the keys before it chose.
//!
//! A [`FlatEvent`] is a set of reusable buffers: loading the next event clears them, so after
//! warm-up flattening and matching allocate nothing.

use super::compile::Rule;
use super::json::{JsonError, MAX_DEPTH, Reader};
use super::number::comparable;
use super::value::Value;
use std::collections::HashSet;
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
/// flattening, as event-ruler does.
#[derive(Clone, Debug, Default)]
pub struct Steps(HashSet<Box<str>>);

impl Steps {
    pub fn add_path(&mut self, dotted: &str) {
        for step in dotted.split('.') {
            self.0.insert(step.into());
        }
    }

    fn used(&self, key: &[u8]) -> bool {
        let Ok(key) = std::str::from_utf8(key) else {
            return false;
        };
        self.0.contains(key) || (key.contains('.') && key.split('.').all(|s| self.0.contains(s)))
    }
}

/// A flattened event (reusable buffers).
#[derive(Debug, Default)]
pub struct FlatEvent {
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
    }

    /// Flatten a JSON object. `steps` (if given) limits the work to names some pattern uses.
    pub fn load(&mut self, json: &[u8], steps: Option<&Steps>) -> Result<(), JsonError> {
        self.load_with(json, None, steps)
    }

    /// Flatten a record's event, with the value of its top-level `body_key` (`body` for SQS,
    /// `data` for ActiveMQ and RabbitMQ) replaced by the record's body: the decoded JSON when
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
        self.fields.sort_unstable_by(|a, b| name(a).cmp(name(b)));
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
        let lo = self.fields.partition_point(|f| of(f) < key);
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

    /// Whether any of `rules` matches this event.
    pub fn matches_any(&mut self, rules: &[Rule]) -> bool {
        let mut chosen = std::mem::take(&mut self.chosen);
        let hit = rules.iter().any(|rule| {
            chosen.clear();
            self.walk(rule, 0, &mut chosen)
        });
        self.chosen = chosen;
        hit
    }

    fn walk(&self, rule: &Rule, i: usize, chosen: &mut Vec<(u32, u32)>) -> bool {
        let Some(key) = rule.keys.get(i) else {
            return true;
        };
        let fields = self.named(&key.name);
        if key.absent
            && !fields
                .clone()
                .any(|f| consistent(chosen, self.members_of(&self.fields[f])))
            && self.walk(rule, i + 1, chosen)
        {
            return true;
        }
        for f in fields {
            let field = &self.fields[f];
            let value = self.value_of(field);
            if !key.matchers.iter().any(|m| m.matches(&value)) {
                continue;
            }
            let mark = chosen.len();
            if join(chosen, self.members_of(field)) && self.walk(rule, i + 1, chosen) {
                return true;
            }
            chosen.truncate(mark);
        }
        false
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
