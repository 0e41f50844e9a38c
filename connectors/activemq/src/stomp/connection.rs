//! Connecting: TCP or TLS (rustls on ring), the CONNECT handshake, heart-beat negotiation.

use crate::config::Endpoint;
use crate::connection::{self as net, Io};
use crate::stomp::codec::{Frame, Item, Out, StompCodec};
use crate::stomp::error::StompError;
use futures_util::{SinkExt, StreamExt};
use sluice_core::config::Secret;
use std::time::Duration;
use tokio_util::codec::Framed;

pub(super) type Conn = Framed<Box<dyn Io>, StompCodec>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who connects, and how.
#[derive(Clone, Debug)]
pub(super) struct Login {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub virtual_host: Option<String>,
    /// Heart-beat interval offered both ways; zero for none.
    pub heart_beat: Duration,
}

/// A connected session.
pub(super) struct Connected {
    pub conn: Conn,
    pub endpoint: Endpoint,
    /// How often we must send something (None: never).
    pub send_every: Option<Duration>,
    /// How long the broker may stay silent before it is taken as gone (None: forever).
    pub silent_limit: Option<Duration>,
    /// The CONNECTED frame's `server` header (`ActiveMQ/5.17.2`), if any.
    pub server: String,
}

async fn open(e: &Endpoint) -> Result<Box<dyn Io>, StompError> {
    Ok(net::open(&e.host, e.port, e.tls, CONNECT_TIMEOUT, &e.to_string()).await?)
}

/// Connect to `endpoint` and log in.
pub(super) async fn connect(endpoint: &Endpoint, login: &Login) -> Result<Connected, StompError> {
    let endpoint = endpoint.clone();
    let io = open(&endpoint).await?;
    let mut conn = Framed::new(io, StompCodec::default());
    let hb = login.heart_beat.as_millis() as u64;
    let mut connect = Frame::new("CONNECT")
        .header("accept-version", "1.2")
        .header(
            "host",
            login
                .virtual_host
                .clone()
                .unwrap_or_else(|| endpoint.host.clone()),
        )
        .header("heart-beat", format!("{hb},{hb}"));
    if let Some(u) = &login.username {
        connect = connect.header("login", u.clone());
    }
    if let Some(p) = &login.password {
        // The one moment the secret is read.
        connect = connect.header("passcode", p.expose().to_owned());
    }
    conn.send(Out::Frame(connect)).await?;
    let answer = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match conn.next().await {
                Some(Ok(Item::Heartbeat)) => continue,
                other => return other,
            }
        }
    })
    .await
    .map_err(|_| StompError::Timeout("waiting for CONNECTED"))?;
    let frame = match answer {
        Some(Ok(Item::Frame(f))) => f,
        Some(Ok(Item::Heartbeat)) | None => return Err(StompError::Closed),
        Some(Err(e)) => return Err(e.into()),
    };
    match frame.command.as_str() {
        "CONNECTED" => {}
        "ERROR" => return Err(StompError::from_error_frame(&frame)),
        other => {
            return Err(StompError::Protocol(format!(
                "expected CONNECTED, got {other}"
            )));
        }
    }
    // heart-beat: sx,sy from the broker; we send every max(ours, sy), it every max(sx, ours).
    let (sx, sy) = frame
        .get("heart-beat")
        .and_then(|v| v.split_once(','))
        .map(|(a, b)| (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0)))
        .unwrap_or((0u64, 0u64));
    let negotiate = |ours: u64, theirs: u64| {
        (ours > 0 && theirs > 0).then(|| Duration::from_millis(ours.max(theirs)))
    };
    Ok(Connected {
        conn,
        endpoint,
        send_every: negotiate(hb, sy),
        silent_limit: negotiate(hb, sx).map(|d| d * 2 + Duration::from_secs(1)),
        server: frame.get("server").unwrap_or_default().to_owned(),
    })
}
