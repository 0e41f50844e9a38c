//! One measured `sluice` run, shared by every benchmark mode: an HTTP receiver that answers
//! 200 and counts records, and the release binary running one pipe file.

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sluice_tests::process::binary;
use sluice_tests::{free_port, unique};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The median of some rates.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The closing line of a mode that compares Sluice with a bare client.
pub(crate) fn report(bare: &str, bare_rates: Vec<f64>, sluice_rates: Vec<f64>) {
    let (b, s) = (median(bare_rates), median(sluice_rates));
    println!(
        "median: {bare} {b:.0} msgs/s, sluice {s:.0} msgs/s, sluice/bare {:.0} %",
        s / b * 100.0
    );
}

pub(crate) struct SluiceRun {
    /// One process per replica, all on the same pipe.
    children: Vec<(std::process::Child, String)>,
    dir: PathBuf,
    count: Arc<AtomicU64>,
    first: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl SluiceRun {
    /// Start a receiver counting `marker` (a field every record has once) and `sluice run` on
    /// the pipe `yaml(receiver_port)`, with `env` added to its environment.
    pub(crate) async fn start(
        marker: &'static [u8],
        yaml: impl FnOnce(u16) -> String,
        env: &[(&str, String)],
    ) -> SluiceRun {
        SluiceRun::start_replicas(marker, yaml, env, 1).await
    }

    /// Like [`SluiceRun::start`], with `replicas` processes on the same pipe (competing
    /// consumers of the same queues) and one receiver.
    pub(crate) async fn start_replicas(
        marker: &'static [u8],
        yaml: impl FnOnce(u16) -> String,
        env: &[(&str, String)],
        replicas: usize,
    ) -> SluiceRun {
        let count = Arc::new(AtomicU64::new(0));
        let first = Arc::new(std::sync::Mutex::new(None));
        let port = receiver(count.clone(), first.clone(), marker).await;
        SluiceRun {
            count,
            first,
            ..SluiceRun::spawn(&yaml(port), env, replicas)
        }
    }

    /// `replicas` processes of `sluice run` on the pipe `yaml`, for a receiver of the caller's
    /// own (this run's record count stays 0).
    pub(crate) fn spawn(yaml: &str, env: &[(&str, String)], replicas: usize) -> SluiceRun {
        let dir = std::env::temp_dir().join(unique("bench"));
        std::fs::create_dir_all(&dir).expect("dir");
        let pipe = dir.join("bench.yaml");
        std::fs::write(&pipe, yaml).expect("pipe");
        let children = (0..replicas)
            .map(|_| {
                let admin = format!("127.0.0.1:{}", free_port());
                let child = std::process::Command::new(binary())
                    .args(["run", "--admin-addr", &admin])
                    .arg(&pipe)
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .spawn()
                    .expect("spawn sluice");
                (child, admin)
            })
            .collect();
        SluiceRun {
            children,
            dir,
            count: Arc::new(AtomicU64::new(0)),
            first: Arc::new(std::sync::Mutex::new(None)),
        }
    }

    /// Wait until the receiver saw `n` records and the replicas acknowledged `n` together:
    /// seconds from the first request to the last acknowledgement.
    pub(crate) async fn wait_for(&self, n: usize) -> f64 {
        let acked_all = async {
            loop {
                if self.count.load(Ordering::Relaxed) >= n as u64 {
                    let mut total = 0;
                    for (_, admin) in &self.children {
                        total += acked(admin).await;
                    }
                    if total >= n as u64 {
                        return Instant::now();
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let done = tokio::time::timeout(Duration::from_secs(600), acked_all)
            .await
            .expect("sluice finished");
        let start = self.first.lock().unwrap().expect("a first request");
        (done - start).as_secs_f64()
    }

    /// CPU seconds (summed) and peak RSS (MiB, the largest) of the sluice processes so far.
    pub(crate) fn usage(&self) -> (f64, f64) {
        self.children
            .iter()
            .map(|(c, _)| super::usage(c.id()))
            .fold((0.0, 0.0), |(cpu, rss), (c, r)| (cpu + c, f64::max(rss, r)))
    }

    /// SIGTERM, wait, clean up.
    pub(crate) fn stop(mut self) {
        for (child, _) in &mut self.children {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A receiver that answers 200 to anything (counting nothing), for modes that measure by the
/// acknowledgements alone; returns its port.
pub(crate) async fn sink_port() -> u16 {
    let count = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None));
    receiver(count, first, b"\0never\0").await
}

/// A receiver that answers 200 and counts records: occurrences of `marker` (a field every
/// record has once, such as `"basicProperties"`).
async fn receiver(
    count: Arc<AtomicU64>,
    first: Arc<std::sync::Mutex<Option<Instant>>>,
    marker: &'static [u8],
) -> u16 {
    serve(Arc::new(move |body: &[u8]| {
        first.lock().unwrap().get_or_insert_with(Instant::now);
        let n = memchr::memmem::find_iter(body, marker).count();
        count.fetch_add(n as u64, Ordering::Relaxed);
    }))
    .await
}

/// What a receiver does with each request body before answering 200.
pub(crate) type OnBody = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// An HTTP server on a free loopback port that hands every request body to `on_body` and
/// answers 200 with an empty body; returns its port.
pub(crate) async fn serve(on_body: OnBody) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let on_body = on_body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let on_body = on_body.clone();
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        on_body(&body);
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    port
}

/// `sluice_acked_messages_total` of the pipe `bench`.
pub(crate) async fn acked(admin: &str) -> u64 {
    sluice_tests::http_get(admin, "/metrics")
        .await
        .and_then(|(_, text)| {
            text.lines()
                .find_map(|l| l.strip_prefix("sluice_acked_messages_total{pipe=\"bench\"} "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map_or(0, |v| v as u64)
}
