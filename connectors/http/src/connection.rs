//! The pooled keep-alive client.

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::LazyLock;
use std::time::Duration;
use tracing::warn;

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The TLS client configuration with the system's CA certificates, read once for every
/// sink: 1,000 pipes would otherwise each parse and hold their own copy.
static TLS: LazyLock<rustls::ClientConfig> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        // A machine without CA certificates can still call http:// functions.
        warn!("no CA certificates found: https:// targets will fail verification");
    }
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
});

/// One client per sink: connections are reused across batches (keep-alive), up to
/// `pool_size` idle ones, which the pipe sets to its concurrency.
pub(crate) fn client(pool_size: usize) -> HttpClient {
    let builder = HttpsConnectorBuilder::new().with_tls_config(TLS.clone());
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(pool_size.max(1))
        .build(connector)
}
