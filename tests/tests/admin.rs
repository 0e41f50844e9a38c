//! The admin server under hostile clients: one that never sends its headers is dropped, and
//! the endpoints keep answering while it hangs on.

use sluice_tests::function::Function;
use sluice_tests::process::Sluice;
use sluice_tests::{unique, wait_for};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let function = Function::ok().await;
    let name = unique("p").to_lowercase();
    // An SQS pipe needs no broker to be listed; only the admin server is under test.
    let sluice = Sluice::start(&format!(
        "name: {name}\nsource:\n  sqs:\n    queue_url: http://127.0.0.1:1/000000000000/q\n    endpoint_url: http://127.0.0.1:1\ntarget:\n  http: {{url: '{}'}}\n",
        function.url()
    ));
    wait_for("admin up", Duration::from_secs(30), || async {
        sluice.get("/healthz").await.is_some()
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut s = tokio::net::TcpStream::connect(&sluice.admin).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // The server still answers others while those hang on.
    assert!(matches!(sluice.get("/healthz").await, Some((200, _))));
    // And it drops them after its header-read timeout (10s).
    for mut s in slow {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a client without headers was kept");
    }
}
