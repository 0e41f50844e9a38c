//! Building an SQS client: the standard AWS credential chain, our own rustls (ring) client.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::Region;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use std::time::Duration;

/// Where a client talks to.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub region: String,
    pub endpoint_url: Option<String>,
}

/// A client for `endpoint`. Credentials come from the standard chain (environment, profile,
/// web identity for Kubernetes service accounts, container and instance metadata), resolved
/// lazily on the first call. The Region is always given, so no metadata lookup is made for it.
///
/// Long polls wait up to 20 s, so the read timeout leaves room above that. The SDK's own
/// retries are kept short: Sluice retries calls itself with its backoff.
pub(crate) async fn client(endpoint: &Endpoint) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(endpoint.region.clone()))
        .retry_config(RetryConfig::standard().with_max_attempts(2))
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
