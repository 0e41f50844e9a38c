//! Pipe files as located trees: every value knows its line and column, so that every error,
//! from the YAML parser, serde or `validate()`, is reported as `FILE:LINE:COLUMN: message`.
//!
//! saphyr (maintained, YAML 1.2, with spans) parses; this module turns its nodes into a small
//! tree of our own and replaces `${env:NAME}` and `${file:PATH}` in string values.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own location.
    Map(Vec<(Located<String>, Node)>),
}

#[derive(Clone, Debug)]
pub(crate) struct Located<T> {
    pub value: T,
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
    /// The value came (partly) from a secret: never print it.
    pub secret: bool,
    /// For a value that came from a secret, the text as written (`${env:NAME}`): what the
    /// revision is computed from, so that it says nothing about the secret.
    pub template: Option<String>,
}

/// A problem at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parse every document of a file. Errors stop at the first syntax error (the parser cannot
/// go on), but collect every secret that cannot be resolved.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, Vec<Problem>> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        vec![Problem {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: format!("invalid YAML: {}", e.info()),
        }]
    })?;
    let mut problems = Vec::new();
    let nodes = docs
        .iter()
        .map(|d| convert(d, &mut problems))
        // An empty document (a trailing `---`) holds no pipe.
        .filter(|n| !matches!(n.kind, Kind::Null))
        .collect();
    if problems.is_empty() {
        Ok(nodes)
    } else {
        Err(problems)
    }
}

fn convert(y: &MarkedYaml<'_>, problems: &mut Vec<Problem>) -> Node {
    let line = y.span.start.line();
    let col = y.span.start.col() + 1;
    let mut secret = false;
    let mut template = None;
    let kind = match &y.data {
        YamlData::Value(Scalar::Null) => Kind::Null,
        YamlData::Value(Scalar::Boolean(b)) => Kind::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Kind::Int(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => Kind::Float(f.into_inner()),
        YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, _, _) => {
            match interpolate(s) {
                Ok((v, from_secret)) => {
                    secret = from_secret;
                    if from_secret {
                        template = Some(s.to_string());
                    }
                    Kind::Str(v)
                }
                Err(message) => {
                    problems.push(Problem { line, col, message });
                    Kind::Str(String::new())
                }
            }
        }
        YamlData::Sequence(items) => {
            Kind::Seq(items.iter().map(|i| convert(i, problems)).collect())
        }
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, _, _) => {
                        s.to_string()
                    }
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    _ => {
                        problems.push(Problem {
                            line: k.span.start.line(),
                            col: k.span.start.col() + 1,
                            message: "keys must be strings".into(),
                        });
                        continue;
                    }
                };
                entries.push((
                    Located {
                        value: key,
                        line: k.span.start.line(),
                        col: k.span.start.col() + 1,
                    },
                    convert(v, problems),
                ));
            }
            Kind::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(inner, problems),
        YamlData::Alias(_) | YamlData::BadValue => {
            problems.push(Problem {
                line,
                col,
                message: "unsupported YAML value".into(),
            });
            Kind::Null
        }
    };
    Node {
        kind,
        line,
        col,
        secret,
        template,
    }
}

/// Replace `${env:NAME}` and `${file:PATH}`; `$${` is a literal `${`. Returns the new value
/// and whether a secret went into it.
pub(crate) fn interpolate(s: &str) -> Result<(String, bool), String> {
    if !s.contains("${") {
        return Ok((s.to_owned(), false));
    }
    let mut out = String::with_capacity(s.len());
    let mut from_secret = false;
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i - 1]);
            out.push_str("${");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find('}')
            .ok_or_else(|| "unclosed `${` in a value (use `$${` for a literal)".to_owned())?;
        let reference = &rest[i + 2..i + end];
        let value = match reference.split_once(':') {
            Some(("env", name)) => std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set (${{env:{name}}})"))?,
            Some(("file", path)) => {
                let v = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read secret file {path} (${{file:{path}}}): {e}")
                })?;
                v.strip_suffix("\r\n")
                    .or_else(|| v.strip_suffix('\n'))
                    .unwrap_or(&v)
                    .to_owned()
            }
            _ => {
                return Err(format!(
                    "unknown reference `${{{reference}}}`: allowed ${{env:NAME}} and ${{file:PATH}}"
                ));
            }
        };
        sluice_core::redact::register(&value);
        out.push_str(&value);
        from_secret = true;
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok((out, from_secret))
}

impl Node {
    /// Feed the node's content (kinds, keys, values; not locations) to `sink`. Values from
    /// secrets are fed as written (`${env:NAME}`), never resolved.
    pub(crate) fn hash_into(&self, sink: &mut impl FnMut(&[u8])) {
        if let Some(t) = &self.template {
            sink(b"t");
            sink(&t.len().to_le_bytes());
            sink(t.as_bytes());
            return;
        }
        match &self.kind {
            Kind::Null => sink(b"n"),
            Kind::Bool(b) => sink(if *b { b"t" } else { b"f" }),
            Kind::Int(i) => {
                sink(b"i");
                sink(&i.to_le_bytes());
            }
            Kind::Float(f) => {
                sink(b"d");
                sink(&f.to_le_bytes());
            }
            Kind::Str(s) => {
                sink(b"s");
                sink(&s.len().to_le_bytes());
                sink(s.as_bytes());
            }
            Kind::Seq(items) => {
                sink(b"[");
                items.iter().for_each(|i| i.hash_into(sink));
                sink(b"]");
            }
            Kind::Map(entries) => {
                sink(b"{");
                for (k, v) in entries {
                    sink(&k.value.len().to_le_bytes());
                    sink(k.value.as_bytes());
                    v.hash_into(sink);
                }
                sink(b"}");
            }
        }
    }

    /// The document as it may be shown (the console's pipe page): a value from a secret as
    /// written (`${env:NAME}`), a URL's password as `***`.
    pub(crate) fn shown(&self) -> serde_json::Value {
        use serde_json::Value;
        if let Some(t) = &self.template {
            return Value::String(t.clone());
        }
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => Value::from(*f),
            Kind::Str(s) if self.secret => Value::String("***".into()),
            Kind::Str(s) if s.contains("://") => Value::String(sluice_core::redact::redact_url(s)),
            Kind::Str(s) => Value::String(sluice_core::redact::redact(s).into_owned()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::shown).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.shown()))
                    .collect(),
            ),
        }
    }

    /// Feed the resolved values of secrets only: a rotated secret changes this, and the pipe
    /// restarts with it, while its revision stays the same.
    pub(crate) fn hash_secrets_into(&self, sink: &mut impl FnMut(&[u8])) {
        match &self.kind {
            Kind::Str(s) if self.secret => {
                sink(&s.len().to_le_bytes());
                sink(s.as_bytes());
            }
            Kind::Seq(items) => items.iter().for_each(|i| i.hash_secrets_into(sink)),
            Kind::Map(entries) => entries.iter().for_each(|(_, v)| v.hash_secrets_into(sink)),
            _ => {}
        }
    }

    /// The node at a key path such as `target.http.timeout` or `source.rabbitmq.queues[0]`,
    /// or the deepest one that exists on the way.
    pub(crate) fn locate(&self, path: &str) -> (usize, usize) {
        let mut node = self;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let (key, index) = match seg.split_once('[') {
                Some((k, idx)) => (k, idx.trim_end_matches(']').parse::<usize>().ok()),
                None => (seg, None),
            };
            let Kind::Map(entries) = &node.kind else {
                break;
            };
            let Some((k, v)) = entries.iter().find(|(k, _)| k.value == key) else {
                break;
            };
            node = v;
            if let Some(i) = index {
                match &v.kind {
                    Kind::Seq(items) if i < items.len() => node = &items[i],
                    _ => return (k.line, k.col),
                }
            }
        }
        (node.line, node.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation() {
        assert_eq!(
            interpolate("a${env:SLUICE_TEST_NOT_SET_ANYWHERE}").unwrap_err(),
            "environment variable SLUICE_TEST_NOT_SET_ANYWHERE is not set (${env:SLUICE_TEST_NOT_SET_ANYWHERE})"
        );
        assert_eq!(
            interpolate("lit $${env:X}").unwrap(),
            ("lit ${env:X}".to_owned(), false)
        );
        assert!(interpolate("${vault:x}").is_err());
        assert!(interpolate("${env:X").is_err());
        let dir = std::env::temp_dir().join(format!("sluice-yaml-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let (v, secret) = interpolate(&format!("p=${{file:{}}}", dir.display())).unwrap();
        assert_eq!((v.as_str(), secret), ("p=s3cret", true));
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn locations_and_paths() {
        let docs =
            parse("name: a\nsource:\n  rabbitmq:\n    queues: [x, y]\n---\nname: b\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].locate("source.rabbitmq.queues[1]"), (4, 17));
        assert_eq!(docs[0].locate("name"), (1, 7));
        assert_eq!(docs[0].locate("source.missing"), (3, 3));
        assert_eq!(docs[1].locate("name"), (6, 7));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let e = parse("name: a\n  bad: [\n").unwrap_err();
        assert!(e[0].line >= 2, "{e:?}");
        assert!(e[0].message.starts_with("invalid YAML"));
    }
}
