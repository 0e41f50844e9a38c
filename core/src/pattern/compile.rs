//! Pattern text → rules, with event-ruler's checks and messages.
//!
//! A pattern compiles to one or more rules (`$or` forks them); a rule is a list of flattened
//! keys (`detail.state`), each with its operands. Keys are kept in event-ruler's order (sorted
//! by UTF-16 code units), because `exists: false` is judged against the array elements the
//! keys before it matched.
//!
//! Like event-ruler's `Machine.addRule`, a pattern that fails to compile with `$or` as the OR
//! keyword is tried once more with `$or` as an ordinary field name (its backward-compatible
//! reading); if that fails too, the first error is reported.

use super::cidr::{IpRange, looks_like_ip, parse_cidr, parse_ip};
use super::json::{JsonError, Node, Spanned};
use super::number::comparable;
use super::text::{IgnoreCase, Wildcard};
use super::value::{Excluded, Matcher};

/// One AND-branch of a pattern.
#[derive(Clone, Debug)]
pub(super) struct Rule {
    pub keys: Vec<Key>,
}

#[derive(Clone, Debug)]
pub(super) struct Key {
    /// Dotted path, as event fields are flattened.
    pub name: String,
    /// The path's number in a [`super::PatternSet`]'s plan (`plan::NONE` until compiled
    /// into one).
    pub field: u32,
    /// `exists: false` is one of its operands.
    pub absent: bool,
    pub matchers: Vec<Matcher>,
}

const OR: &str = "$or";

/// Names that cannot be field names inside `$or` (event-ruler's reserved words).
const RESERVED: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

#[derive(Clone, Debug)]
enum Operand {
    Match(Matcher),
    Absent,
}

type Branch = Vec<(String, Vec<Operand>)>;

type Result<T> = std::result::Result<T, JsonError>;

fn fail<T>(offset: usize, message: impl Into<String>) -> Result<T> {
    Err(JsonError {
        offset,
        message: message.into(),
    })
}

pub(super) fn compile(root: &Spanned) -> Result<Vec<Rule>> {
    match compile_with(root, true) {
        Ok(rules) => Ok(rules),
        Err(first) if mentions_or(&root.value) => compile_with(root, false).map_err(|_| first),
        Err(e) => Err(e),
    }
}

fn mentions_or(node: &Node) -> bool {
    match node {
        Node::Object(m) => m
            .iter()
            .any(|(k, v)| k.value == OR || mentions_or(&v.value)),
        Node::Array(items) => items.iter().any(|i| mentions_or(&i.value)),
        _ => false,
    }
}

fn compile_with(root: &Spanned, or_keyword: bool) -> Result<Vec<Rule>> {
    let Node::Object(members) = &root.value else {
        return fail(root.offset, "Filter is not an object");
    };
    let mut c = Compiler {
        or_keyword,
        branches: Vec::new(),
        path: Vec::new(),
    };
    c.object(members, root.offset, false)?;
    Ok(c.branches.into_iter().map(rule).collect())
}

fn rule(branch: Branch) -> Rule {
    let mut keys: Vec<Key> = branch
        .into_iter()
        .map(|(name, operands)| {
            let mut key = Key {
                name,
                field: super::plan::NONE,
                absent: false,
                matchers: Vec::with_capacity(operands.len()),
            };
            for op in operands {
                match op {
                    Operand::Absent => key.absent = true,
                    Operand::Match(m) => key.matchers.push(m),
                }
            }
            key
        })
        .collect();
    keys.sort_by(|a, b| a.name.encode_utf16().cmp(b.name.encode_utf16()));
    Rule { keys }
}

struct Compiler {
    or_keyword: bool,
    branches: Vec<Branch>,
    path: Vec<String>,
}

impl Compiler {
    fn object(
        &mut self,
        members: &[(Spanned<String>, Spanned)],
        offset: usize,
        inside_or: bool,
    ) -> Result<()> {
        if members.is_empty() {
            return fail(offset, "Empty objects are not allowed");
        }
        for (key, value) in members {
            if self.or_keyword && key.value == OR {
                self.or(value)?;
                continue;
            }
            if inside_or && RESERVED.contains(&key.value.as_str()) {
                return fail(
                    key.offset,
                    format!(
                        "{} is Ruler reserved fieldName which cannot be used inside $or.",
                        key.value
                    ),
                );
            }
            match &value.value {
                Node::Object(m) => {
                    self.path.push(key.value.clone());
                    self.object(m, value.offset, inside_or)?;
                    self.path.pop();
                }
                Node::Array(items) => {
                    let mut name = self.path.join(".");
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(&key.value);
                    self.write(name, items, value.offset)?;
                }
                _ => {
                    return fail(
                        value.offset,
                        format!("\"{}\" must be an object or an array", key.value),
                    );
                }
            }
        }
        Ok(())
    }

    fn or(&mut self, value: &Spanned) -> Result<()> {
        let Node::Array(items) = &value.value else {
            return fail(value.offset, "It must be an Array followed with $or.");
        };
        let current = std::mem::take(&mut self.branches);
        for item in items {
            let Node::Object(m) = &item.value else {
                return fail(
                    item.offset,
                    "Only JSON object is allowed in array of $or relationship.",
                );
            };
            let mut fork = current.clone();
            if fork.is_empty() {
                fork.push(Vec::new());
            }
            let done = std::mem::replace(&mut self.branches, fork);
            self.object(m, item.offset, true)?;
            let fork = std::mem::replace(&mut self.branches, done);
            self.branches.extend(fork);
        }
        if items.len() < 2 {
            return fail(
                value.offset,
                "There must have at least 2 Objects in $or relationship.",
            );
        }
        Ok(())
    }

    /// A key's value list; it replaces what the key had (event-ruler's overriding).
    fn write(&mut self, name: String, items: &[Spanned], offset: usize) -> Result<()> {
        let mut ops = Vec::with_capacity(items.len());
        for item in items {
            match &item.value {
                Node::Object(m) => ops.push(expression(m, item.offset)?),
                Node::String(s) => ops.push(Operand::Match(exact_string(s))),
                Node::Number(lit) => {
                    // Matched as a number when a double holds it, and by its text always (an
                    // account number is still found).
                    if let Some(n) = comparable(lit) {
                        ops.push(Operand::Match(Matcher::NumberEquals(n)));
                    }
                    ops.push(Operand::Match(Matcher::Exact(lit.as_bytes().into())));
                }
                Node::Bool(b) => ops.push(Operand::Match(Matcher::Exact(
                    if *b { &b"true"[..] } else { &b"false"[..] }.into(),
                ))),
                Node::Null => ops.push(Operand::Match(Matcher::Exact(b"null"[..].into()))),
                Node::Array(_) => {
                    return fail(
                        item.offset,
                        "Match value must be String, number, true, false, or null",
                    );
                }
            }
        }
        if ops.is_empty() {
            return fail(offset, "Empty arrays are not allowed");
        }
        if self.branches.is_empty() {
            self.branches.push(Vec::new());
        }
        for branch in &mut self.branches {
            match branch.iter_mut().find(|(k, _)| *k == name) {
                Some((_, existing)) => *existing = ops.clone(),
                None => branch.push((name.clone(), ops.clone())),
            }
        }
        Ok(())
    }
}

/// A string in a value list; an IP address literal matches that address in any spelling.
fn exact_string(s: &str) -> Matcher {
    if looks_like_ip(s)
        && let Some(ip) = parse_ip(s)
    {
        return Matcher::Cidr(IpRange::single(ip));
    }
    Matcher::Exact(quoted(s).into_bytes().into())
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn string_of(v: &Spanned) -> Option<&str> {
    match &v.value {
        Node::String(s) => Some(s),
        _ => None,
    }
}

fn text_of(v: &Node) -> String {
    match v {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Number(n) => n.clone(),
        Node::String(s) => quoted(s),
        Node::Array(_) => "[".into(),
        Node::Object(_) => "{".into(),
    }
}

fn number(v: &Spanned) -> Result<f64> {
    match &v.value {
        Node::Number(lit) => comparable(lit).map_or_else(
            || {
                fail(
                    v.offset,
                    format!(
                        "Cannot compare number {lit}: numbers must be finite and exactly \
                         representable as a double (about 15 significant digits)"
                    ),
                )
            },
            Ok,
        ),
        _ => fail(v.offset, "expected a number"),
    }
}

fn only_key(members: &[(Spanned<String>, Spanned)], message: &str) -> Result<()> {
    match members.get(1) {
        Some((k, _)) => fail(k.offset, message),
        None => Ok(()),
    }
}

const ONE_KEY: &str = "Only one key allowed in match expression";

fn expression(members: &[(Spanned<String>, Spanned)], offset: usize) -> Result<Operand> {
    let Some((op, v)) = members.first() else {
        return fail(offset, "Match expression name not found");
    };
    let matcher = match op.value.as_str() {
        "exactly" => {
            let s = string_of(v).map_or_else(
                || fail(v.offset, "exact match pattern must be a string"),
                Ok,
            )?;
            Matcher::Exact(quoted(s).into_bytes().into())
        }
        "prefix" | "suffix" => {
            let prefix = op.value == "prefix";
            match &v.value {
                Node::String(s) => {
                    let t = if prefix {
                        format!("\"{s}")
                    } else {
                        format!("{s}\"")
                    };
                    if prefix {
                        Matcher::Prefix(t.into_bytes().into())
                    } else {
                        Matcher::Suffix(t.into_bytes().into())
                    }
                }
                Node::Object(inner) => {
                    let Some((k, s)) = inner.first() else {
                        return fail(v.offset, format!("{} expression name not found", op.value));
                    };
                    if k.value != "equals-ignore-case" {
                        return fail(
                            k.offset,
                            format!("Unsupported {} pattern: {}", op.value, k.value),
                        );
                    }
                    let s = string_of(s).map_or_else(
                        || {
                            fail(
                                s.offset,
                                "equals-ignore-case match pattern must be a string",
                            )
                        },
                        Ok,
                    )?;
                    only_key(inner, ONE_KEY)?;
                    if prefix {
                        Matcher::PrefixIgnoreCase(IgnoreCase::new(&format!("\"{s}")))
                    } else {
                        Matcher::SuffixIgnoreCase(IgnoreCase::new(&format!("{s}\"")))
                    }
                }
                _ => {
                    return fail(
                        v.offset,
                        format!("{} match pattern must be a string", op.value),
                    );
                }
            }
        }
        "equals-ignore-case" => {
            let s = string_of(v).map_or_else(
                || {
                    fail(
                        v.offset,
                        "equals-ignore-case match pattern must be a string",
                    )
                },
                Ok,
            )?;
            Matcher::EqualsIgnoreCase(IgnoreCase::new(&quoted(s)))
        }
        "wildcard" => {
            let s = string_of(v).map_or_else(
                || fail(v.offset, "wildcard match pattern must be a string"),
                Ok,
            )?;
            Matcher::Wildcard(Wildcard::parse(&quoted(s)).or_else(|e| fail(v.offset, e))?)
        }
        "cidr" => {
            let s =
                string_of(v).map_or_else(|| fail(v.offset, "cidr pattern must be a string"), Ok)?;
            Matcher::Cidr(parse_cidr(s).or_else(|e| fail(v.offset, e))?)
        }
        "exists" => {
            let exists = match v.value {
                Node::Bool(b) => b,
                _ => {
                    return fail(
                        v.offset,
                        "exists match pattern must be either true or false.",
                    );
                }
            };
            only_key(members, ONE_KEY)?;
            return Ok(if exists {
                Operand::Match(Matcher::Exists)
            } else {
                Operand::Absent
            });
        }
        "numeric" => {
            let Node::Array(items) = &v.value else {
                return fail(v.offset, "Value of numeric must be an array.");
            };
            let m = numeric(items, v.offset)?;
            only_key(members, "Too many elements in numeric expression")?;
            return Ok(Operand::Match(m));
        }
        "anything-but" => {
            let m = anything_but(v)?;
            only_key(members, "Only one key allowed in anything-but expression")?;
            return Ok(Operand::Match(m));
        }
        other => return fail(op.offset, format!("Unrecognized match type {other}")),
    };
    only_key(members, ONE_KEY)?;
    Ok(Operand::Match(matcher))
}

fn numeric(items: &[Spanned], offset: usize) -> Result<Matcher> {
    let mut it = items.iter();
    let end = |it: &mut std::slice::Iter<'_, Spanned>, msg: &str| match it.next() {
        Some(extra) => fail(extra.offset, msg),
        None => Ok(()),
    };
    let Some(first) = it.next() else {
        return fail(offset, "Invalid member in numeric match: ]");
    };
    let Some(op) = string_of(first) else {
        return fail(
            first.offset,
            format!("Invalid member in numeric match: {}", text_of(&first.value)),
        );
    };
    let operand = |it: &mut std::slice::Iter<'_, Spanned>, name: &str| -> Result<f64> {
        match it.next() {
            Some(v) if matches!(v.value, Node::Number(_)) => number(v),
            Some(v) => fail(v.offset, format!("Value of {name} must be numeric")),
            None => fail(offset, format!("Value of {name} must be numeric")),
        }
    };
    const TOO_MANY: &str = "Too many elements in numeric expression";
    match op {
        "=" => {
            let n = operand(&mut it, "equals")?;
            end(&mut it, TOO_MANY)?;
            Ok(Matcher::NumberEquals(n))
        }
        ">" | ">=" => {
            let low = operand(&mut it, op)?;
            let low = (low, op == ">");
            let Some(second) = it.next() else {
                return Ok(Matcher::Range {
                    low: Some(low),
                    high: None,
                });
            };
            let Some(op2) = string_of(second) else {
                return fail(
                    second.offset,
                    format!("Bad value in numeric range: {}", text_of(&second.value)),
                );
            };
            if op2 != "<" && op2 != "<=" {
                return fail(second.offset, format!("Bad numeric range operator: {op2}"));
            }
            let high = (operand(&mut it, op2)?, op2 == "<");
            end(&mut it, "Too many terms in numeric range expression")?;
            if low.0 >= high.0 {
                return fail(offset, "Bottom must be less than top");
            }
            Ok(Matcher::Range {
                low: Some(low),
                high: Some(high),
            })
        }
        "<" | "<=" => {
            let high = (operand(&mut it, op)?, op == "<");
            end(&mut it, TOO_MANY)?;
            Ok(Matcher::Range {
                low: None,
                high: Some(high),
            })
        }
        other => fail(
            first.offset,
            format!("Unrecognized numeric range operator: {other}"),
        ),
    }
}

fn anything_but(v: &Spanned) -> Result<Matcher> {
    const SHAPE: &str = "Value of anything-but must be an array or single string/number value.";
    match &v.value {
        Node::String(s) => Ok(Matcher::Not(Excluded::Strings(vec![
            quoted(s).into_bytes().into(),
        ]))),
        Node::Number(_) => Ok(Matcher::Not(Excluded::Numbers(vec![number(v)?]))),
        Node::Array(items) => {
            let (mut strings, mut numbers) = (Vec::new(), Vec::new());
            for item in items {
                match &item.value {
                    Node::String(s) => strings.push(quoted(s).into_bytes().into()),
                    Node::Number(_) => numbers.push(number(item)?),
                    _ => {
                        return fail(
                            item.offset,
                            "Inside anything but list, start|null|boolean is not supported.",
                        );
                    }
                }
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(Matcher::Not(Excluded::Strings(strings))),
                (true, false) => Ok(Matcher::Not(Excluded::Numbers(numbers))),
                _ => fail(
                    v.offset,
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                ),
            }
        }
        Node::Object(inner) => {
            let Some((k, operand)) = inner.first() else {
                return fail(v.offset, "Anything-But expression name not found");
            };
            let kind = k.value.as_str();
            if !matches!(
                kind,
                "equals-ignore-case" | "prefix" | "suffix" | "wildcard"
            ) {
                return fail(
                    k.offset,
                    format!("Unsupported anything-but pattern: {kind}"),
                );
            }
            let values: Vec<&Spanned> = match &operand.value {
                Node::Array(items) => items.iter().collect(),
                Node::String(_) | Node::Number(_) => vec![operand],
                _ => return fail(operand.offset, SHAPE),
            };
            let mut texts = Vec::with_capacity(values.len());
            for item in values {
                let Some(s) = string_of(item) else {
                    let msg = match kind {
                        "equals-ignore-case" => {
                            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                        }
                        "wildcard" => "wildcard match pattern must be a string",
                        _ => "prefix/suffix match pattern must be a string",
                    };
                    return fail(item.offset, msg);
                };
                if s.is_empty() && matches!(kind, "prefix" | "suffix") {
                    return fail(item.offset, "Null prefix/suffix not allowed");
                }
                texts.push((s, item.offset));
            }
            only_key(inner, "Only one key allowed in anything-but expression")?;
            let excluded = match kind {
                "equals-ignore-case" => Excluded::IgnoreCase(
                    texts
                        .iter()
                        .map(|(s, _)| IgnoreCase::new(&quoted(s)))
                        .collect(),
                ),
                "prefix" => Excluded::Prefixes(
                    texts
                        .iter()
                        .map(|(s, _)| format!("\"{s}").into_bytes().into())
                        .collect(),
                ),
                "suffix" => Excluded::Suffixes(
                    texts
                        .iter()
                        .map(|(s, _)| format!("{s}\"").into_bytes().into())
                        .collect(),
                ),
                _ => {
                    let mut ws = Vec::with_capacity(texts.len());
                    for (s, offset) in &texts {
                        ws.push(Wildcard::parse(&quoted(s)).or_else(|e| fail(*offset, e))?);
                    }
                    Excluded::Wildcards(ws)
                }
            };
            Ok(Matcher::Not(excluded))
        }
        _ => fail(v.offset, SHAPE),
    }
}
