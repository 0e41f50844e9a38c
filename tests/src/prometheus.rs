//! A real Prometheus server (Debian's `prometheus`, found through `SLUICE_PROMETHEUS`, which
//! `scripts/ops-tools.sh` exports) scraping Sluice processes on loopback every second, with the
//! repository's alert rules loaded, and a client for its HTTP API.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running Prometheus; killed when dropped.
pub struct Prometheus {
    child: Child,
    /// `127.0.0.1:PORT` of its API.
    pub addr: String,
    dir: PathBuf,
}

/// One series of a query's answer: its labels and value.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Labels of the series.
    pub labels: serde_json::Map<String, Value>,
    /// Its value at the query's time.
    pub value: f64,
}

impl Prometheus {
    /// Scrape `targets` (`host:port` of Sluice admin servers) every second as job `sluice`,
    /// evaluating `rule_files` every second.
    pub fn start(targets: &[&str], rule_files: &[&Path]) -> Prometheus {
        let binary = std::env::var("SLUICE_PROMETHEUS")
            .expect("SLUICE_PROMETHEUS: scripts/test.sh sources scripts/ops-tools.sh");
        let dir = std::env::temp_dir().join(crate::unique("prometheus"));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {}\n", p.display()))
            .collect();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\
             scrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: [{}]\n",
            rules.concat(),
            targets.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus config");
        let port = crate::free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        Prometheus {
            child,
            addr: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    /// GET an API path; the `data` of a successful answer, else the error Prometheus gave.
    pub async fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = crate::http_get(&self.addr, path)
            .await
            .ok_or_else(|| "prometheus did not answer".to_owned())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{status}: {e}: {body}"))?;
        if v["status"] == "success" {
            Ok(v["data"].clone())
        } else {
            Err(format!("{status}: {} {}", v["errorType"], v["error"]))
        }
    }

    /// An instant query: its series (a scalar answer counts as one series without labels).
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let q: String = url::form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        let data = self.api(&format!("/api/v1/query?query={q}")).await?;
        let value = |v: &Value| {
            v.get(1)
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        };
        Ok(match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| Sample {
                    labels: s["metric"].as_object().cloned().unwrap_or_default(),
                    value: value(&s["value"]),
                })
                .collect(),
            Some("scalar") => vec![Sample {
                labels: Default::default(),
                value: value(&data["result"]),
            }],
            other => return Err(format!("unexpected result type {other:?}")),
        })
    }

    /// Its log, for failure messages.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
