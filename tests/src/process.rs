//! The `sluice` binary as a child process, and its admin endpoints.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Path of the `sluice` binary: `SLUICE_BIN`, else next to the test binary's directory
/// (`target/<profile>/sluice`). `scripts/test.sh` builds it before the tests.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("sluice");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --bins` first",
        bin.display()
    );
    bin
}

/// A running `sluice run`, its admin address, directory and log.
pub struct Sluice {
    /// The process.
    pub child: Child,
    /// Its admin server, `127.0.0.1:PORT`.
    pub admin: String,
    /// The directory of its pipe files.
    pub dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Added to the process environment (kept for restarts).
    env: Vec<(String, String)>,
}

impl Sluice {
    /// Write `pipe` (YAML) to a fresh directory and run `sluice run` on it.
    pub fn start(pipe: &str) -> Sluice {
        Sluice::start_env(pipe, &[])
    }

    /// Like [`Sluice::start`], with `env` added to the process environment.
    pub fn start_env(pipe: &str, env: &[(&str, &str)]) -> Sluice {
        let dir = std::env::temp_dir().join(crate::unique("sluice-test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("pipe.yaml");
        std::fs::File::create(&file)
            .and_then(|mut f| f.write_all(pipe.as_bytes()))
            .expect("write pipe");
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sluice::start_in(dir, "pipe.yaml", env)
    }

    /// Run `sluice run` on a directory holding `files` (name, YAML); the test may change the
    /// directory while it runs.
    pub fn start_dir(files: &[(&str, &str)]) -> Sluice {
        Sluice::start_dir_env(files, &[])
    }

    /// Like [`Sluice::start_dir`], with `env` added to the process's environment.
    pub fn start_dir_env(files: &[(&str, &str)], env: &[(&str, &str)]) -> Sluice {
        let dir = std::env::temp_dir().join(crate::unique("sluice-test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for (name, yaml) in files {
            std::fs::write(dir.join(name), yaml).expect("write pipe");
        }
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sluice::start_in(dir, ".", env)
    }

    fn start_in(dir: PathBuf, target: &str, env: Vec<(String, String)>) -> Sluice {
        let port = crate::free_port();
        // Outside the watched directory's *.yaml pattern.
        let log = dir.join(format!("sluice-{port}.log"));
        let child = Command::new(binary())
            .args([
                "run",
                "--admin-addr",
                &format!("127.0.0.1:{port}"),
                "--shutdown-timeout",
                "10s",
            ])
            .arg(dir.join(target))
            .env(
                "SLUICE_LOG",
                std::env::var("SLUICE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(crate::sqs::child_env())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn sluice");
        Sluice {
            child,
            admin: format!("127.0.0.1:{port}"),
            dir,
            log,
            env,
        }
    }

    /// A new process on the same pipe file (after a kill).
    pub fn restart(&mut self) {
        let next = Sluice::start_in(self.dir.clone(), "pipe.yaml", self.env.clone());
        // The old process is already gone; dropping it only reaps it.
        drop(std::mem::replace(self, next));
    }

    /// GET an admin path: (status, body).
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        crate::http_get(&self.admin, path).await
    }

    /// The value of one metric series, e.g. `sluice_acked_messages_total{pipe="x"}`.
    pub async fn metric(&self, series: &str) -> f64 {
        let Some((_, text)) = self.get("/metrics").await else {
            return 0.0;
        };
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }

    /// One series of a pipe: `metric{pipe="PIPE",LABELS}`; `labels` like `outcome="error"`.
    pub async fn pipe_metric(&self, metric: &str, pipe: &str, labels: &str) -> f64 {
        let sep = if labels.is_empty() { "" } else { "," };
        self.metric(&format!("{metric}{{pipe=\"{pipe}\"{sep}{labels}}}"))
            .await
    }

    /// Several label-less series of a pipe from one scrape, in the order asked (0 when absent).
    pub async fn pipe_metrics(&self, pipe: &str, metrics: &[&str]) -> Vec<f64> {
        let text = self
            .get("/metrics")
            .await
            .map(|(_, t)| t)
            .unwrap_or_default();
        metrics
            .iter()
            .map(|m| {
                let series = format!("{m}{{pipe=\"{pipe}\"}}");
                text.lines()
                    .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
                    .unwrap_or(0.0)
            })
            .collect()
    }

    /// `sluice_connection_errors_total` of a pipe for `component` (`source`, `target`,
    /// `dead_letter`).
    pub async fn connection_errors(&self, pipe: &str, component: &str) -> f64 {
        self.pipe_metric(
            "sluice_connection_errors_total",
            pipe,
            &format!("component=\"{component}\""),
        )
        .await
    }

    /// `sluice_dead_lettered_messages_total` of a pipe for `destination` (`broker`,
    /// `dead_letter`).
    pub async fn dead_lettered(&self, pipe: &str, destination: &str) -> f64 {
        self.pipe_metric(
            "sluice_dead_lettered_messages_total",
            pipe,
            &format!("destination=\"{destination}\""),
        )
        .await
    }

    /// `sluice_acked_messages_total` of a pipe.
    pub async fn acked(&self, pipe: &str) -> f64 {
        self.pipe_metric("sluice_acked_messages_total", pipe, "")
            .await
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        matches!(self.get("/readyz").await, Some((200, _)))
    }

    /// SIGKILL: no drain, nothing acknowledged after this instant.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Established TCP connections of this process to `port` on the loopback.
    pub fn connections_to(&self, port: u16) -> usize {
        tcp_connections(self.child.id(), port)
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Established TCP connections of process `pid` to `port`: its socket inodes (from
/// `/proc/PID/fd`) looked up in `/proc/net/tcp` and `tcp6`.
pub fn tcp_connections(pid: u32, port: u16) -> usize {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            let link = link.to_str()?;
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let remote = format!(":{port:04X}");
    ["tcp", "tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("/proc/{pid}/net/{f}")).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // remote address, state 01 = ESTABLISHED, inode
            cols.len() > 9
                && cols[2].ends_with(&remote)
                && cols[3] == "01"
                && inodes.contains(cols[9])
        })
        .count()
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a `sluice run --until-empty` printed and how it ended.
pub struct Finished {
    /// Exit code (`None`: killed by a signal, or by the time limit).
    pub code: Option<i32>,
    /// Standard output: the summary.
    pub stdout: String,
    /// Standard error: the log.
    pub stderr: String,
}

/// Run `sluice run --until-empty` on `pipe` (YAML) and wait for it to exit by itself; killed
/// after `limit`.
pub async fn run_until_empty(pipe: &str, limit: std::time::Duration) -> Finished {
    let dir = std::env::temp_dir().join(crate::unique("sluice-until-empty"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("pipe.yaml"), pipe).expect("write pipe");
    let child = Command::new(binary())
        .args([
            "run",
            "--until-empty",
            "--admin-addr",
            &format!("127.0.0.1:{}", crate::free_port()),
        ])
        .arg(dir.join("pipe.yaml"))
        .env("SLUICE_LOG", "info")
        .envs(crate::sqs::child_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    let pid = child.id();
    let waited = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let output = match waited {
        Ok(joined) => joined.expect("the waiting thread").expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("sluice run --until-empty did not exit within {limit:?}");
        }
    };
    Finished {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
