//! Reading pipe files: paths → validated pipe documents, or one located problem per line.

use crate::config::PipeConfig;
use crate::de::from_node;
use crate::yaml::{self, Node};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A pipe document that parsed and validated.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub config: PipeConfig,
    pub file: PathBuf,
    /// A hash of the pipe's document as written (secrets unresolved), shown as
    /// `config_revision`; a reload restarts a pipe when it changes.
    pub revision: String,
    /// A hash of the resolved secret values, never shown: a reload also restarts a pipe
    /// when one of its secrets changed (a rotated password).
    pub secrets: u64,
    /// The document with its secrets as written and URL passwords hidden, for the console.
    pub shown: serde_json::Value,
}

/// `FILE:LINE:COLUMN: message`, or `FILE: message` when no place is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn at(file: &Path, line: usize, col: usize, message: &str) -> LoadError {
    LoadError(format!("{}:{line}:{col}: {message}", file.display()))
}

/// Every error as it may be shown: no secret value in it.
fn redacted(errors: Vec<LoadError>) -> Vec<LoadError> {
    errors
        .into_iter()
        .map(|e| LoadError(sluice_core::redact::redact(&e.0).into_owned()))
        .collect()
}

/// Pipe files named by `paths`: files as given, directories' `*.yaml`/`*.yml` (not recursive),
/// sorted so that loading is deterministic.
pub(crate) fn pipe_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Vec<LoadError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| {
                            f.is_file()
                                && matches!(
                                    f.extension().and_then(|e| e.to_str()),
                                    Some("yaml" | "yml")
                                )
                        })
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => errors.push(LoadError(format!(
                    "{}: cannot read directory: {e}",
                    p.display()
                ))),
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            errors.push(LoadError(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Notices changes to the pipe files and the secret files they name (`${file:PATH}`), read
/// through symlinks. A file is read again only when its size, modification time or inode
/// changed (a Kubernetes ConfigMap or Secret update swaps a symlink, which changes the inode),
/// so 1,000 unchanged pipe files cost 1,000 `stat` calls a poll, not 1,000 reads.
#[derive(Default)]
pub(crate) struct Watch {
    files: HashMap<PathBuf, Seen>,
}

/// A file as last read: what identifies its version, and the hash of its contents.
struct Seen {
    version: (u64, Option<std::time::SystemTime>, u64),
    hash: u64,
    secrets: Vec<String>,
}

impl Watch {
    /// A hash of the pipe files' names and contents and of the secret files they name.
    pub(crate) fn fingerprint(&mut self, paths: &[PathBuf]) -> u64 {
        let mut h = Fnv::default();
        let mut live = std::collections::HashSet::new();
        match pipe_files(paths) {
            Ok(files) => {
                for f in files {
                    h.feed(f.to_string_lossy().as_bytes());
                    let (hash, secrets) = self.read(&f);
                    h.feed(&hash.to_le_bytes());
                    for secret in secrets {
                        h.feed(secret.as_bytes());
                        let secret = PathBuf::from(secret);
                        h.feed(&self.read(&secret).0.to_le_bytes());
                        live.insert(secret);
                    }
                    live.insert(f);
                }
            }
            Err(errors) => errors.iter().for_each(|e| h.feed(e.0.as_bytes())),
        }
        self.files.retain(|p, _| live.contains(p));
        h.0
    }

    /// The hash of a file's contents and the secret files it names, read again only when
    /// its version changed (a missing file hashes as empty).
    fn read(&mut self, file: &Path) -> (u64, Vec<String>) {
        use std::os::unix::fs::MetadataExt;
        let version = std::fs::metadata(file)
            .map(|m| (m.len(), m.modified().ok(), m.ino()))
            .unwrap_or((0, None, 0));
        if let Some(seen) = self.files.get(file)
            && seen.version == version
        {
            return (seen.hash, seen.secrets.clone());
        }
        let text = std::fs::read(file).unwrap_or_default();
        let mut h = Fnv::default();
        h.feed(&text);
        let secrets: Vec<String> = secret_files(&String::from_utf8_lossy(&text))
            .map(str::to_owned)
            .collect();
        self.files.insert(
            file.to_owned(),
            Seen {
                version,
                hash: h.0,
                secrets: secrets.clone(),
            },
        );
        (h.0, secrets)
    }
}

/// The paths of `${file:PATH}` references in a pipe file's text.
fn secret_files(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("${file:").filter_map(|(i, m)| {
        let rest = &text[i + m.len()..];
        rest.find('}').map(|end| &rest[..end])
    })
}

/// FNV-1a: a short, stable, dependency-free hash for change detection (not for security).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Load and validate every pipe. All problems are reported, not just the first, and none
/// shows a secret's value.
pub(crate) fn load(paths: &[PathBuf]) -> Result<Vec<Loaded>, Vec<LoadError>> {
    let files = load_each(paths)?;
    if files.broken.is_empty() {
        Ok(files.loaded)
    } else {
        Err(files.broken.into_iter().flat_map(|(_, e)| e).collect())
    }
}

/// The pipes of every file that validated, and the errors of every file that did not: a
/// reload applies the first and keeps the running pipes of the second.
pub(crate) struct Files {
    pub loaded: Vec<Loaded>,
    pub broken: Vec<(PathBuf, Vec<LoadError>)>,
}

/// Load every file on its own: a file with any problem contributes no pipe. `Err` when the
/// paths themselves cannot be listed. No error shows a secret's value.
pub(crate) fn load_each(paths: &[PathBuf]) -> Result<Files, Vec<LoadError>> {
    let files = pipe_files(paths).map_err(redacted)?;
    let mut out = Files {
        loaded: Vec::new(),
        broken: Vec::new(),
    };
    let mut names: HashMap<String, (PathBuf, usize, usize)> = HashMap::new();
    for file in files {
        let (pipes, mut errors) = load_file(&file);
        for (l, line, col) in &pipes {
            if let Some((f, l0, c0)) = names.get(&l.config.name) {
                errors.push(at(
                    &file,
                    *line,
                    *col,
                    &format!(
                        "name: pipe {:?} is already defined at {}:{l0}:{c0}",
                        l.config.name,
                        f.display()
                    ),
                ));
            }
        }
        if errors.is_empty() {
            for (l, line, col) in pipes {
                names.insert(l.config.name.clone(), (file.clone(), line, col));
                out.loaded.push(l);
            }
        } else {
            out.broken.push((file, redacted(errors)));
        }
    }
    Ok(out)
}

/// One file's pipes (with the place of each name) and its problems.
fn load_file(file: &Path) -> (Vec<(Loaded, usize, usize)>, Vec<LoadError>) {
    let mut pipes = Vec::new();
    let mut errors = Vec::new();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            errors.push(LoadError(format!("{}: cannot read: {e}", file.display())));
            return (pipes, errors);
        }
    };
    let docs = match yaml::parse(&text) {
        Ok(d) => d,
        Err(problems) => {
            errors.extend(problems.iter().map(|p| at(file, p.line, p.col, &p.message)));
            return (pipes, errors);
        }
    };
    if docs.is_empty() {
        errors.push(LoadError(format!("{}: holds no pipe", file.display())));
    }
    for doc in docs {
        match document(&doc, file) {
            Ok(l) => {
                let (line, col) = doc.locate("name");
                if let Some((_, l0, c0)) = pipes
                    .iter()
                    .find(|(p, _, _): &&(Loaded, usize, usize)| p.config.name == l.config.name)
                {
                    errors.push(at(
                        file,
                        line,
                        col,
                        &format!(
                            "name: pipe {:?} is already defined at {}:{l0}:{c0}",
                            l.config.name,
                            file.display()
                        ),
                    ));
                } else {
                    pipes.push((l, line, col));
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    (pipes, errors)
}

fn document(doc: &Node, file: &Path) -> Result<Loaded, Vec<LoadError>> {
    let config: PipeConfig = from_node(doc).map_err(|e| {
        let message = if e.path.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.path, e.message)
        };
        vec![at(file, e.line, e.col, &message)]
    })?;
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(problems
            .iter()
            .map(|p| {
                let (line, col) = doc.locate(&p.path);
                at(file, line, col, &p.to_string())
            })
            .collect());
    }
    let mut secrets = Fnv::default();
    doc.hash_secrets_into(&mut |bytes: &[u8]| secrets.feed(bytes));
    Ok(Loaded {
        config,
        file: file.to_owned(),
        revision: revision(doc),
        secrets: secrets.0,
        shown: doc.shown(),
    })
}

/// A hash of one document's content (its values, not their places), so that editing one pipe
/// of a file leaves the others' revisions alone.
fn revision(doc: &Node) -> String {
    let mut h = Fnv::default();
    doc.hash_into(&mut |bytes: &[u8]| h.feed(bytes));
    format!("{:016x}", h.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write `text` to a fresh file and load it; the error lines, or the pipe names.
    fn load_text(text: &str) -> Result<Vec<String>, Vec<String>> {
        let dir = std::env::temp_dir().join(format!(
            "sluice-load-{}-{}",
            std::process::id(),
            fastish_id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.yaml");
        std::fs::write(&file, text).unwrap();
        let r = load(std::slice::from_ref(&file))
            .map(|l| l.into_iter().map(|p| p.config.name).collect())
            .map_err(|e| {
                e.into_iter()
                    .map(|e| e.0.replace(&format!("{}", file.display()), "F"))
                    .collect()
            });
        let _ = std::fs::remove_dir_all(dir);
        r
    }

    fn fastish_id() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    const GOOD: &str = "name: a\nsource:\n  rabbitmq:\n    url: amqp://u:p@127.0.0.1:5672/%2f\n    queues: [q]\ntarget:\n  http:\n    url: http://127.0.0.1:1/\n";

    #[test]
    fn a_good_pipe_loads() {
        assert_eq!(load_text(GOOD), Ok(vec!["a".to_owned()]));
    }

    #[test]
    fn malformed_yaml_has_a_place() {
        let e = load_text("name: a\nsource: [\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("F:3:1: invalid YAML") || e[0].starts_with("F:2:"),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_keys_are_named_where_they_are() {
        let e = load_text(&format!("{GOOD}colour: blue\n")).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("F:9:1: colour: unknown field `colour`"),
            "{e:?}"
        );
        let e = load_text(&GOOD.replace("    queues", "    queus: [q]\n    queues")).unwrap_err();
        assert!(
            e[0].starts_with("F:5:5: source.rabbitmq.queus: unknown field `queus`"),
            "{e:?}"
        );
    }

    #[test]
    fn bad_durations_name_the_key_and_what_is_allowed() {
        let e = load_text(&format!("{GOOD}    timeout: 5 minutes\n")).unwrap_err();
        assert_eq!(
            e[0],
            "F:9:14: target.http.timeout: `5 minutes` has unknown unit ` minutes` (use ms, s, m or h)"
        );
        let e = load_text(&format!("{GOOD}    timeout: 15m\n")).unwrap_err();
        assert_eq!(
            e[0],
            "F:9:14: target.http.timeout: found 15m, allowed 1ms..14m"
        );
    }

    #[test]
    fn missing_secrets_are_named_and_values_never_printed() {
        let e = load_text(&GOOD.replace("u:p@", "u:${env:SLUICE_TEST_SURELY_UNSET}@")).unwrap_err();
        assert_eq!(
            e[0],
            "F:4:10: environment variable SLUICE_TEST_SURELY_UNSET is not set (${env:SLUICE_TEST_SURELY_UNSET})"
        );
        let secret_file =
            std::env::temp_dir().join(format!("sluice-secret-{}", std::process::id()));
        std::fs::write(&secret_file, "hunter2-not-a-duration").unwrap();
        let e = load_text(&format!(
            "{GOOD}    timeout: ${{file:{}}}\n",
            secret_file.display()
        ))
        .unwrap_err();
        let _ = std::fs::remove_file(&secret_file);
        assert!(!e[0].contains("hunter2"), "{e:?}");
        assert!(
            e[0].starts_with("F:9:14: target.http.timeout: invalid value (it comes from a secret"),
            "{e:?}"
        );
    }

    #[test]
    fn cross_field_rules_and_duplicate_names() {
        let e = load_text(&format!(
            "{GOOD}batch: {{size: 20000, window: 301s}}\nconcurrency: 0\n"
        ))
        .unwrap_err();
        assert_eq!(
            e,
            vec![
                "F:9:15: batch.size: found 20000, allowed 1..10000",
                "F:9:30: batch.window: found 301s, allowed 0s..300s",
                "F:10:14: concurrency: found 0, allowed 1..1000",
            ]
        );
        let e = load_text(&format!("{GOOD}---\n{GOOD}")).unwrap_err();
        assert!(
            e[0].starts_with("F:10:7: name: pipe \"a\" is already defined at F:1:7"),
            "{e:?}"
        );
        let e = load_text(&GOOD.replace("queues: [q]", "queues: []")).unwrap_err();
        assert!(
            e[0].starts_with("F:5:13: source.rabbitmq.queues: found an empty list"),
            "{e:?}"
        );
    }

    #[test]
    fn filters_as_mappings_or_json_and_their_errors() {
        let ok = format!(
            "{GOOD}filter:\n  - data: {{type: [order], total: [{{numeric: ['>', 100]}}]}}\n  - '{{\"data\": {{\"type\": [{{\"prefix\": \"ord\"}}]}}}}'\nenrichment:\n  http: {{url: 'http://127.0.0.1:1/'}}\n"
        );
        load_text(&ok).unwrap();
        let e = load_text(&format!(
            "{GOOD}filter:\n  - data: {{type: [{{regex: x}}]}}\n  - '{{\"data\": [{{\"cidr\": \"10.0.0.0/40\"}}]}}'\n  - 5\n"
        ))
        .unwrap_err();
        assert!(
            e[0].starts_with(
                "F:10:5: filter[0]: invalid event pattern: Unrecognized match type regex"
            ),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("F:11:5: filter[1]: invalid event pattern: IPv4 mask bits must be < 32 (pattern line 1, column 20)"),
            "{e:?}"
        );
        assert_eq!(e.len(), 3, "{e:?}");
        let e = load_text(&format!("{GOOD}filter: []\n")).unwrap_err();
        assert!(e[0].contains("filter: found an empty list"), "{e:?}");
    }

    /// Whatever a pipe file holds, loading it gives pipes or errors, never a panic.
    #[test]
    fn no_file_makes_the_loader_panic() {
        let seeds = [
            GOOD.to_owned(),
            format!(
                "{GOOD}filter:\n  - data: {{type: [{{prefix: ord}}], n: [{{numeric: ['>', 1]}}]}}\n"
            ),
            format!(
                "{GOOD}retry: {{max_attempts: 99999999999999999999, backoff: {{initial: 1ms, max: 1h}}}}\n"
            ),
            format!(
                "{GOOD}batch: {{size: -1, window: 999999999999999999h, max_bytes: 99999999999GiB}}\n"
            ),
            "a: &x [*x, *x]\nb: !!binary aGVsbG8=\n? [complex, key]\n: v\n".to_owned(),
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        let file = std::path::Path::new("f.yaml");
        for _ in 0..5_000 {
            let mut text: Vec<char> = seeds[rng.usize(..seeds.len())].chars().collect();
            for _ in 0..rng.usize(0..4) {
                if text.is_empty() {
                    break;
                }
                let i = rng.usize(..text.len());
                let c = [
                    ':', '-', '[', '{', '"', '\'', '\n', ' ', '#', '&', '*', '!', '\u{0}', 'é',
                ][rng.usize(..14)];
                match rng.u8(0..3) {
                    0 => text[i] = c,
                    1 => {
                        text.remove(i);
                    }
                    _ => text.insert(i, c),
                }
            }
            let text: String = text.into_iter().collect();
            if let Ok(docs) = yaml::parse(&text) {
                for doc in docs {
                    let _ = document(&doc, file);
                }
            }
        }
    }
}
