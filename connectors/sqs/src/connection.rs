//! Building an SQS client: the standard AWS credential chain, our own rustls (ring) client.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Region;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

/// Where a client talks to.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub region: String,
    pub endpoint_url: Option<String>,
}

/// Clients built so far, one per Region and endpoint: every pipe on the same endpoint shares
/// one client, its HTTP connection pool and its credentials cache (credentials come from the
/// process's chain, the same for every pipe), instead of 1,000 of each.
static CLIENTS: LazyLock<Mutex<HashMap<ClientKey, Client>>> = LazyLock::new(Mutex::default);

/// Region and endpoint URL.
type ClientKey = (String, Option<String>);

/// The shared client for `endpoint`, built on first use.
pub(crate) async fn client(endpoint: &Endpoint) -> Client {
    let key = (endpoint.region.clone(), endpoint.endpoint_url.clone());
    if let Some(c) = CLIENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return c.clone();
    }
    let built = build(endpoint).await;
    CLIENTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key)
        .or_insert(built)
        .clone()
}

/// A client for `endpoint`. Credentials come from the standard chain (environment, profile,
/// web identity for Kubernetes service accounts, container and instance metadata), resolved
/// lazily on the first call. The Region is always given, so no metadata lookup is made for it.
///
/// Long polls wait up to 20 s, so the read timeout leaves room above that. The SDK's own
/// retries are kept short: Sluice retries calls itself with its backoff.
///
/// The SDK's stalled-stream protection is off: it watches the throughput of every request in
/// flight with a timer of its own, and a long poll is a request in flight for 20 s that sends
/// nothing and then gets its whole answer at once. With 1,000 idle pipes those timers were most
/// of the process's idle CPU. A peer that stops answering is caught by the read timeout.
async fn build(endpoint: &Endpoint) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(endpoint.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(40))
                .build(),
        );
    if let Some(url) = &endpoint.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    Client::new(&loader.load().await)
}
