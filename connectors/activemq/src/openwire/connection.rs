//! Connecting: TCP or TLS, the `WireFormatInfo` exchange, `ConnectionInfo` with the
//! credentials, and one session. Also the ids a connection hands out.

use crate::config::Endpoint;
use crate::connection::{self as net, Io};
use crate::openwire::error::OpenWireError;
use crate::openwire::wire::{
    Command, ConnectionInfo, Header, OpenWireCodec, Primitive, SessionId, WireFormatInfo,
};
use futures_util::{SinkExt, StreamExt};
use sluice_core::config::Secret;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::codec::Framed;

pub(super) type Conn = Framed<Box<dyn Io>, OpenWireCodec>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The version Sluice offers; see the `wire` module for why.
pub(super) const VERSION: i32 = 12;
/// The oldest version whose layouts match the ones Sluice reads.
const OLDEST_VERSION: i32 = 10;

/// Who connects, and how long either side may stay silent.
#[derive(Clone, Debug)]
pub(super) struct Login {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Offered as `MaxInactivityDuration`; zero turns the inactivity monitor off on both sides
    /// (the target's connection sits idle between batches).
    pub max_inactivity: Duration,
}

/// A connected, logged-in session.
pub(super) struct Connected {
    pub conn: Conn,
    pub endpoint: Endpoint,
    pub session: SessionId,
    /// Command ids of this connection; the next one is handed out by [`Connected::next_id`].
    pub ids: std::sync::Arc<AtomicI32>,
    /// How long the broker may stay silent (the negotiated inactivity duration); None: forever.
    pub read_timeout: Option<Duration>,
    /// How often to send a `KeepAliveInfo` (a third of it, as the Java client does).
    pub keep_alive_every: Option<Duration>,
    /// The broker's name from its `BrokerInfo`.
    pub broker_name: String,
}

impl Connected {
    pub(super) fn next_id(&self) -> i32 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// A connection id unique to this process and moment, in the shape ActiveMQ clients use.
fn connection_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let started = sluice_core::record::now_ms();
    let n = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
    format!("ID:sluice-{host}-{}-{started}-{n}:1", std::process::id())
}

fn wire_format_info(login: &Login) -> WireFormatInfo {
    let flag = |name: &str, v| (name.to_owned(), Primitive::Bool(v));
    WireFormatInfo {
        version: VERSION,
        options: vec![
            flag("TightEncodingEnabled", false),
            flag("CacheEnabled", false),
            flag("SizePrefixDisabled", false),
            flag("StackTraceEnabled", false),
            flag("TcpNoDelayEnabled", true),
            flag("MaxFrameSizeEnabled", true),
            (
                "MaxInactivityDuration".into(),
                Primitive::Long(login.max_inactivity.as_millis() as i64),
            ),
            (
                "MaxInactivityDurationInitalDelay".into(),
                Primitive::Long(10_000),
            ),
            ("CacheSize".into(), Primitive::Int(0)),
            (
                "MaxFrameSize".into(),
                Primitive::Long(crate::openwire::wire::MAX_FRAME as i64),
            ),
            ("ProviderName".into(), Primitive::String("Sluice".into())),
            (
                "ProviderVersion".into(),
                Primitive::String(env!("CARGO_PKG_VERSION").into()),
            ),
            ("PlatformDetails".into(), Primitive::String("Rust".into())),
        ],
    }
}

/// Read the next command, answering keep-alives on the way.
pub(super) async fn next(conn: &mut Conn) -> Result<Command, OpenWireError> {
    loop {
        match conn.next().await {
            Some(Ok(Command::KeepAliveInfo(h))) => {
                if h.response_required {
                    conn.send(Command::KeepAliveInfo(Header::default())).await?;
                }
            }
            Some(Ok(c)) => return Ok(c),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(OpenWireError::Closed),
        }
    }
}

/// Connect to `endpoint` and open a session.
pub(super) async fn connect(
    endpoint: &Endpoint,
    login: &Login,
) -> Result<Connected, OpenWireError> {
    let endpoint = endpoint.clone();
    let io = net::open(
        &endpoint.host,
        endpoint.port,
        endpoint.tls,
        CONNECT_TIMEOUT,
        &endpoint.to_string(),
    )
    .await?;
    let mut conn = Framed::new(io, OpenWireCodec::default());
    conn.send(Command::WireFormatInfo(wire_format_info(login)))
        .await?;
    let theirs = match tokio::time::timeout(CONNECT_TIMEOUT, conn.next()).await {
        Err(_) => {
            return Err(OpenWireError::Timeout(
                "waiting for the broker's WireFormatInfo",
            ));
        }
        Ok(Some(Ok(Command::WireFormatInfo(w)))) => w,
        Ok(Some(Ok(other))) => {
            return Err(OpenWireError::Protocol(format!(
                "expected WireFormatInfo first, got {other:?}"
            )));
        }
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(None) => return Err(OpenWireError::Closed),
    };
    if theirs.version < OLDEST_VERSION {
        return Err(OpenWireError::Protocol(format!(
            "the broker speaks OpenWire {}; sluice needs {OLDEST_VERSION} or later",
            theirs.version
        )));
    }
    // Stack traces and tight encoding are used only if both sides ask; Sluice asks for neither.
    let inactivity = match theirs.number("MaxInactivityDuration") {
        Some(ms) if ms > 0 && !login.max_inactivity.is_zero() => {
            Some(login.max_inactivity.min(Duration::from_millis(ms as u64)))
        }
        _ => None,
    };
    let ids = std::sync::Arc::new(AtomicI32::new(1));
    let connection = connection_id();
    let info = ConnectionInfo {
        header: Header {
            command_id: ids.fetch_add(1, Ordering::Relaxed),
            response_required: true,
        },
        connection_id: connection.clone(),
        client_id: Some(connection.clone()),
        user_name: login.username.clone(),
        // The one moment the secret is read.
        password: login.password.as_ref().map(|p| p.expose().to_owned()),
        ..ConnectionInfo::default()
    };
    // The broker's BrokerInfo comes before the answer to ConnectionInfo.
    conn.send(Command::ConnectionInfo(info.clone())).await?;
    let mut broker_name = String::new();
    tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match next(&mut conn).await? {
                Command::BrokerInfo(b) => broker_name = b.broker_name.unwrap_or_default(),
                Command::Response(_, c) if c == info.header.command_id => return Ok(()),
                Command::ExceptionResponse(_, c, t) if c == info.header.command_id => {
                    return Err(OpenWireError::broker(t));
                }
                Command::ConnectionError(_, t, _) => return Err(OpenWireError::broker(t)),
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| OpenWireError::Timeout("waiting for the broker to accept the connection"))??;
    let session = SessionId {
        connection,
        value: 1,
    };
    conn.send(Command::SessionInfo(
        Header {
            command_id: ids.fetch_add(1, Ordering::Relaxed),
            response_required: false,
        },
        session.clone(),
    ))
    .await?;
    Ok(Connected {
        conn,
        endpoint,
        session,
        ids,
        read_timeout: inactivity,
        keep_alive_every: inactivity.map(|d| d / 3),
        broker_name,
    })
}
