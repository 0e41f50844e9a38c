//! Opening a byte stream to a broker: TCP with a timeout, optionally TLS (rustls on ring,
//! the system's root certificates). Both protocols connect through here; their handshakes
//! are in `stomp/connection.rs` and `openwire/connection.rs`.

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// A byte stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{endpoint}: timed out connecting")]
    Timeout { endpoint: String },
    #[error("{endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TLS server name {0}")]
    ServerName(String),
}

/// The TLS client configuration, built once: reading the system's CA certificates costs
/// milliseconds and hundreds of KiB, and 1,000 pipes would otherwise each hold a copy.
static TLS: std::sync::LazyLock<Arc<rustls::ClientConfig>> = std::sync::LazyLock::new(tls_config);

fn tls_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    Arc::new(config)
}

/// Connect to `host:port` (TLS when `tls`), with Nagle off. `endpoint` names it in errors.
pub(crate) async fn open(
    host: &str,
    port: u16,
    tls: bool,
    timeout: Duration,
    endpoint: &str,
) -> Result<Box<dyn Io>, ConnectError> {
    let io = |source| ConnectError::Io {
        endpoint: endpoint.to_owned(),
        source,
    };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| ConnectError::Timeout {
            endpoint: endpoint.to_owned(),
        })?
        .map_err(io)?;
    let _ = tcp.set_nodelay(true);
    if !tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| ConnectError::ServerName(host.to_owned()))?;
    let stream = tokio_rustls::TlsConnector::from(TLS.clone())
        .connect(name, tcp)
        .await
        .map_err(io)?;
    Ok(Box::new(stream))
}
