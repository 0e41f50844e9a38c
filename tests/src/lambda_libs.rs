//! Sluice's real events through AWS's official Lambda libraries of other languages.
//!
//! A test runs pipes in every `format`, keeps what the test functions received as files
//! (`SOURCE.FORMAT.N.json` in a [`Capture`] directory), and hands the directory to:
//! - `tests/lambda/check_events.py`: Powertools data classes, the Powertools Pydantic parser
//!   (SQS) and the CloudEvents SDK, every field compared;
//! - `tsc --strict` on `tests/lambda/handler.ts` (a handler typed with `@types/aws-lambda`) and
//!   `tests/lambda/check_sqs_schema.mjs` (the Powertools TypeScript parser's zod schema);
//! - [`golden_shapes`]: the record shapes of AWS's captured events (aws-lambda-go's
//!   `events/testdata`), key by key and type by type.
//!
//! The tools come from `scripts/lambda-tools.sh` (sourced by `scripts/test.sh`), found through
//! `SLUICE_LAMBDA_PYTHON` and `SLUICE_LAMBDA_NODE_MODULES`. The Rust types
//! (`aws_lambda_events`) are a dev-dependency, used by the test itself.

use crate::function::Function;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The three `format`s of an HTTP target.
pub const FORMATS: [&str; 3] = ["lambda", "pipes", "cloudevents"];

/// A directory of captured events.
pub struct Capture {
    /// Where the files are.
    pub dir: PathBuf,
}

impl Capture {
    /// A fresh directory under the system temp directory.
    pub fn new(name: &str) -> Capture {
        let dir = std::env::temp_dir().join(crate::unique(name));
        std::fs::create_dir_all(&dir).expect("capture directory");
        Capture { dir }
    }

    /// Save every event `function` received as `SOURCE.FORMAT.N.json`; returns how many.
    pub fn save(&self, source: &str, format: &str, function: &Function) -> usize {
        let raw = function.received.lock().expect("lock").raw.clone();
        for (n, body) in raw.iter().enumerate() {
            std::fs::write(self.dir.join(format!("{source}.{format}.{n}.json")), body)
                .expect("write event");
        }
        raw.len()
    }

    /// Every saved event of `source` in `format`, parsed.
    pub fn events(&self, source: &str, format: &str) -> Vec<Value> {
        let prefix = format!("{source}.{format}.");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .expect("read capture")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                let bytes = std::fs::read(entry.path()).expect("read event");
                out.push(serde_json::from_slice(&bytes).expect("captured events are JSON"));
            }
        }
        out
    }
}

fn tool(var: &str) -> PathBuf {
    let path = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests with scripts/test.sh (it sources scripts/lambda-tools.sh)")
    });
    PathBuf::from(path)
}

/// The Python with Powertools, cloudevents, awslambdaric and cargo-lambda.
pub fn python() -> PathBuf {
    tool("SLUICE_LAMBDA_PYTHON")
}

/// The node_modules with typescript, @types/aws-lambda and the Powertools parser.
pub fn node_modules() -> PathBuf {
    tool("SLUICE_LAMBDA_NODE_MODULES")
}

/// `tests/lambda/NAME`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lambda")
        .join(name)
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprint!("{stdout}");
    stdout
}

/// Read every captured event with Powertools (data classes, Pydantic parser) and the
/// CloudEvents SDK; returns their report (one `ok` line per file).
pub fn check_with_python(capture: &Capture) -> String {
    run(
        "check_events.py",
        Command::new(python())
            .arg(script("check_events.py"))
            .arg(&capture.dir),
    )
}

/// Type-check the `@types/aws-lambda` handler, then parse the captured SQS events with the
/// Powertools TypeScript parser.
pub fn check_with_typescript(capture: &Capture) -> String {
    let modules = node_modules();
    let dir = capture.dir.join("ts");
    std::fs::create_dir_all(&dir).expect("ts dir");
    std::fs::copy(script("handler.ts"), dir.join("handler.ts")).expect("copy handler");
    let link = dir.join("node_modules");
    if !link.exists() {
        std::os::unix::fs::symlink(&modules, &link).expect("link node_modules");
    }
    run(
        "tsc --strict on handler.ts",
        Command::new(modules.join(".bin/tsc"))
            .args([
                "--strict",
                "--noEmit",
                "--skipLibCheck",
                "--target",
                "es2022",
            ])
            .args(["--module", "nodenext", "--moduleResolution", "nodenext"])
            .arg(dir.join("handler.ts")),
    );
    run(
        "check_sqs_schema.mjs",
        Command::new("node")
            .env("NODE_PATH", &modules)
            .arg(script("check_sqs_schema.mjs"))
            .arg(&capture.dir),
    )
}

/// JSON types of one record's keys in AWS's captured events (aws-lambda-go
/// `events/testdata/{sqs,activemq,rabbitmq}-event.json`), written down from reading them.
/// `s` string (`null` also accepted: every library reads these as optional), `n` number,
/// `b` bool, `o` object, `z` null in the capture (a string or `null`).
fn golden(source: &str) -> &'static [(&'static str, char)] {
    match source {
        "sqs" => &[
            ("messageId", 's'),
            ("receiptHandle", 's'),
            ("body", 's'),
            ("md5OfBody", 's'),
            ("md5OfMessageAttributes", 's'),
            ("eventSourceARN", 's'),
            ("eventSource", 's'),
            ("awsRegion", 's'),
            ("attributes", 'o'),
            ("messageAttributes", 'o'),
        ],
        "mq" => &[
            ("messageID", 's'),
            ("messageType", 's'),
            ("timestamp", 'n'),
            ("deliveryMode", 'n'),
            ("correlationID", 's'),
            ("replyTo", 's'),
            ("destination", 'o'),
            ("redelivered", 'b'),
            ("type", 's'),
            ("expiration", 'n'),
            ("priority", 'n'),
            ("data", 's'),
            ("brokerInTime", 'n'),
            ("brokerOutTime", 'n'),
            ("properties", 'o'),
        ],
        "rmq" => &[
            ("basicProperties", 'o'),
            ("redelivered", 'b'),
            ("data", 's'),
        ],
        "rmq.basicProperties" => &[
            ("contentType", 's'),
            ("contentEncoding", 'z'),
            ("headers", 'o'),
            ("deliveryMode", 'n'),
            ("priority", 'n'),
            ("correlationId", 'z'),
            ("replyTo", 'z'),
            ("expiration", 's'),
            ("messageId", 'z'),
            ("timestamp", 's'),
            ("type", 'z'),
            ("userId", 's'),
            ("appId", 'z'),
            ("clusterId", 'z'),
            ("bodySize", 'n'),
        ],
        _ => &[],
    }
}

fn type_fits(v: &Value, t: char) -> bool {
    match t {
        's' | 'z' => v.is_string() || v.is_null(),
        'n' => v.is_number(),
        'b' => v.is_boolean(),
        'o' => v.is_object(),
        _ => false,
    }
}

/// Check one record against the golden shape of `source`: the same keys (a key the capture has
/// only when set, `md5OfMessageAttributes`, may be absent) with the same JSON types.
pub fn golden_shapes(source: &str, record: &Value) -> Result<(), String> {
    let check = |shape: &str, rec: &Value| -> Result<(), String> {
        let obj = rec.as_object().ok_or(format!("{shape}: not an object"))?;
        let want = golden(shape);
        for key in obj.keys() {
            if !want.iter().any(|(k, _)| k == key) {
                return Err(format!(
                    "{shape}: key {key:?} is not in AWS's captured event"
                ));
            }
        }
        for (key, t) in want {
            match obj.get(*key) {
                Some(v) if type_fits(v, *t) => {}
                Some(v) => return Err(format!("{shape}.{key}: {v} is not of type {t}")),
                None if *key == "md5OfMessageAttributes" => {}
                None => return Err(format!("{shape}: key {key:?} is missing")),
            }
        }
        Ok(())
    };
    check(source, record)?;
    if source == "rmq" {
        check("rmq.basicProperties", &record["basicProperties"])?;
    }
    Ok(())
}

/// A Lambda worker process (a runtime interface client running a handler), killed on drop.
pub struct Worker {
    /// The process.
    pub child: std::process::Child,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    /// Start `cmd` as a worker: the environment Lambda gives every function process (runtime
    /// clients read it at start), the Runtime API's address, and the test function's log.
    fn spawn(cmd: &mut Command, handler: &str, api: &str, log: &Path) -> Worker {
        let child = cmd
            .env("_HANDLER", handler)
            .env("AWS_LAMBDA_FUNCTION_NAME", "sluice-worker")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "local")
            .env("AWS_LAMBDA_RUNTIME_API", api)
            .env("SLUICE_FN_LOG", log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start the worker {cmd:?}: {e}"));
        Worker { child }
    }

    /// `python -m awslambdaric MODULE.FUNCTION` in `tests/lambda`, polling `api`
    /// (`AWS_LAMBDA_RUNTIME_API`), its handler logging to `log` (`SLUICE_FN_LOG`).
    pub fn python(api: &str, handler: &str, log: &Path) -> Worker {
        let mut cmd = Command::new(python());
        cmd.args(["-m", "awslambdaric", handler])
            .current_dir(script(""))
            .env("LAMBDA_TASK_ROOT", script(""));
        Worker::spawn(&mut cmd, handler, api, log)
    }

    /// Node's `aws-lambda-ric` running `tests/lambda/MODULE.FUNCTION` (an `.mjs` module).
    pub fn node(api: &str, handler: &str, log: &Path) -> Worker {
        let mut cmd = Command::new("node");
        cmd.arg(node_modules().join("aws-lambda-ric/index.mjs"))
            .arg(handler)
            .current_dir(script(""))
            .env("LAMBDA_TASK_ROOT", script(""));
        Worker::spawn(&mut cmd, handler, api, log)
    }

    /// The `sluice-lambda-fn` binary (`lambda_runtime` + `aws_lambda_events`) polling `api`,
    /// with the environment Lambda gives a function.
    pub fn rust(api: &str, log: &Path) -> Worker {
        Worker::spawn(
            &mut Command::new(sibling_binary("sluice-lambda-fn")),
            "main",
            api,
            log,
        )
    }
}

/// A binary built next to `sluice` (`target/<profile>/NAME`).
pub fn sibling_binary(name: &str) -> PathBuf {
    let bin = crate::process::binary().with_file_name(name);
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// What a test function's log (`SLUICE_FN_LOG`) says: deliveries per record id, and the other
/// lines (`CTX ...`, `HOLD ...`).
pub fn function_log(log: &Path) -> (std::collections::HashMap<String, usize>, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut per_id = std::collections::HashMap::new();
    let mut other = Vec::new();
    for line in text.lines() {
        if line.starts_with("CTX ") || line.starts_with("HOLD ") {
            other.push(line.to_owned());
        } else if let Some((id, _)) = line.split_once(' ') {
            *per_id.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    (per_id, other)
}

/// `cargo lambda watch` serving `sluice-lambda-fn` behind a local Invoke API, killed on drop.
pub struct InvokeEndpoint {
    /// The process.
    pub child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its output (cargo's and the function's).
    pub log: PathBuf,
}

impl Drop for InvokeEndpoint {
    fn drop(&mut self) {
        // cargo lambda runs the function as its child: end the whole process group.
        // `--` first: without it, procps' kill may read `-PID` as an option.
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl InvokeEndpoint {
    /// Start `cargo lambda watch` in `tests/lambda-fn` (it builds the function with cargo,
    /// sharing the workspace's target directory), the function logging to `log`.
    pub fn start(fn_log: &Path, dir: &Path) -> InvokeEndpoint {
        use std::os::unix::process::CommandExt;
        let port = crate::free_port();
        let log = dir.join("cargo-lambda.log");
        let child = Command::new(tool("SLUICE_CARGO_LAMBDA"))
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .arg("--env-var")
            .arg(format!("SLUICE_FN_LOG={}", fn_log.display()))
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("lambda-fn"))
            .process_group(0)
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(std::fs::File::create(dir.join("cargo-lambda.err")).expect("log"))
            .spawn()
            .expect("start cargo lambda watch");
        InvokeEndpoint { child, port, log }
    }

    /// `http://127.0.0.1:PORT`, for `target.lambda.endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
