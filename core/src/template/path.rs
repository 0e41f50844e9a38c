//! The JSONPath subset EventBridge Pipes evaluates in input templates: `$`, dot names (letters,
//! digits, `-`, `_`, `/`, and anything else but `.`, `[`, `]`, quotes, `<`, `>` and spaces),
//! quoted names (`['a.b']`, `["a b"]`), array indices (`[3]`) and wildcards (`.*`, `[*]`).

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

/// A compiled path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct JsonPath {
    steps: Vec<Step>,
    wildcard: bool,
}

/// What a path selects in one event.
pub(super) enum Selected<'v> {
    /// Nothing there.
    Missing,
    /// One value (a path without wildcards).
    One(&'v Value),
    /// Every match of a path with a wildcard, as a JSON array.
    Many(Value),
}

impl JsonPath {
    /// Parse `$...`; the error says what is wrong at which character of the path.
    pub(super) fn parse(text: &str) -> Result<JsonPath, String> {
        let b = text.as_bytes();
        if b.first() != Some(&b'$') {
            return Err("a path starts with $".into());
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && name_char(b[end]) {
                        end += 1;
                    }
                    let name = &text[start..end];
                    if name.is_empty() {
                        return Err(format!("expected a name after the dot at character {i}"));
                    }
                    steps.push(if name == "*" {
                        Step::Wildcard
                    } else {
                        Step::Key(name.to_owned())
                    });
                    i = end;
                }
                b'[' => {
                    let (step, next) = bracket(text, i)?;
                    steps.push(step);
                    i = next;
                }
                other => {
                    return Err(format!(
                        "unexpected {:?} at character {i}; allowed .name, ['name'], [index] or [*]",
                        other as char
                    ));
                }
            }
        }
        let wildcard = steps.contains(&Step::Wildcard);
        Ok(JsonPath { steps, wildcard })
    }

    /// Whether the path starts with `$.KEY` (so only that member needs decoding).
    pub(super) fn first_key(&self) -> Option<&str> {
        match self.steps.first() {
            Some(Step::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Evaluate on `root`.
    pub(super) fn select<'v>(&self, root: &'v Value) -> Selected<'v> {
        if !self.wildcard {
            let mut at = root;
            for step in &self.steps {
                let next = match step {
                    Step::Key(k) => at.get(k.as_str()),
                    Step::Index(n) => at.get(*n),
                    Step::Wildcard => None,
                };
                match next {
                    Some(v) => at = v,
                    None => return Selected::Missing,
                }
            }
            return Selected::One(at);
        }
        let mut found = Vec::new();
        collect(root, &self.steps, &mut found);
        Selected::Many(Value::Array(found.into_iter().cloned().collect()))
    }
}

fn collect<'v>(at: &'v Value, steps: &[Step], out: &mut Vec<&'v Value>) {
    let Some((step, rest)) = steps.split_first() else {
        out.push(at);
        return;
    };
    match step {
        Step::Key(k) => {
            if let Some(v) = at.get(k.as_str()) {
                collect(v, rest, out);
            }
        }
        Step::Index(n) => {
            if let Some(v) = at.get(*n) {
                collect(v, rest, out);
            }
        }
        Step::Wildcard => match at {
            Value::Array(items) => items.iter().for_each(|v| collect(v, rest, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, rest, out)),
            _ => {}
        },
    }
}

fn name_char(c: u8) -> bool {
    !matches!(c, b'.' | b'[' | b']' | b'\'' | b'"' | b'<' | b'>') && !c.is_ascii_whitespace()
}

/// `[...]` at `open`: an index, `*`, or a quoted name; returns the step and where it ends.
fn bracket(text: &str, open: usize) -> Result<(Step, usize), String> {
    let b = text.as_bytes();
    let start = open + 1;
    match b.get(start) {
        Some(&q @ (b'\'' | b'"')) => {
            let mut name = String::new();
            let mut chars = text[start + 1..].char_indices();
            while let Some((k, c)) = chars.next() {
                let at = start + 1 + k;
                if c == '\\' {
                    match chars.next() {
                        Some((_, e)) => name.push(e),
                        None => break,
                    }
                } else if c as u32 == u32::from(q) {
                    return if b.get(at + 1) == Some(&b']') {
                        Ok((Step::Key(name), at + 2))
                    } else {
                        Err(format!(
                            "expected ] after the quoted name at character {at}"
                        ))
                    };
                } else {
                    name.push(c);
                }
            }
            Err(format!("unterminated quoted name at character {open}"))
        }
        Some(b'*') if b.get(start + 1) == Some(&b']') => Ok((Step::Wildcard, start + 2)),
        _ => {
            let digits = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end = start + digits;
            if digits == 0 || b.get(end) != Some(&b']') {
                return Err(format!(
                    "expected an index, * or a quoted name inside [ at character {open}"
                ));
            }
            let n = text[start..end]
                .parse::<usize>()
                .map_err(|_| format!("index too large at character {start}"))?;
            Ok((Step::Index(n), end + 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(path: &str, v: &Value) -> Option<Value> {
        match JsonPath::parse(path).unwrap().select(v) {
            Selected::One(v) => Some(v.clone()),
            Selected::Many(v) => Some(v),
            Selected::Missing => None,
        }
    }

    #[test]
    fn selects_what_pipes_allows() {
        let v = json!({"body": {"a-b": {"c_d": [1, {"e/f": "x"}]}, "k.dot": 2, "n": [{"i": 1}, {"i": 2}]}});
        assert_eq!(one("$", &v), Some(v.clone()));
        assert_eq!(one("$.body.a-b.c_d[1].e/f", &v), Some(json!("x")));
        assert_eq!(one("$.body['k.dot']", &v), Some(json!(2)));
        assert_eq!(one("$[\"body\"][\"k.dot\"]", &v), Some(json!(2)));
        assert_eq!(one("$.body.n[*].i", &v), Some(json!([1, 2])));
        assert_eq!(one("$.body.n.*.i", &v), Some(json!([1, 2])));
        assert_eq!(one("$.body.missing", &v), None);
        assert_eq!(one("$.body.n[9]", &v), None);
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for bad in [
            "body", "$.", "$..a", "$[", "$[x]", "$['a'", "$['a'x", "$.a b", "$[-1]",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }
}
