//! A small STOMP client for tests, on Sluice's own codec: send with receipts, drain a queue.
//! The brokers: ActiveMQ (`scripts/activemq.sh`, STOMP port from `SLUICE_ACTIVEMQ_STOMP_PORT`,
//! default 61613) and RabbitMQ's STOMP plugin (`SLUICE_RABBITMQ_STOMP_PORT`, default 61623).

use futures_util::{SinkExt, StreamExt};
use sluice_activemq::stomp::codec::{Frame, Item, Out, StompCodec};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// The shared ActiveMQ's STOMP port (`SLUICE_ACTIVEMQ_STOMP_PORT`).
pub fn activemq_port() -> u16 {
    std::env::var("SLUICE_ACTIVEMQ_STOMP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(61613)
}

/// RabbitMQ's STOMP plugin port (`SLUICE_RABBITMQ_STOMP_PORT`).
pub fn rabbitmq_port() -> u16 {
    std::env::var("SLUICE_RABBITMQ_STOMP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(61623)
}

/// Messages left in an ActiveMQ queue (unacknowledged ones included), from the broker's
/// statistics.
pub async fn left_in_activemq(queue: &str) -> usize {
    crate::jms::queue_size(&crate::jms::openwire_url(), queue).await as usize
}

/// A message to send: body and extra headers.
pub type Message = (Vec<u8>, Vec<(String, String)>);

/// A STOMP client on our own codec, for publishing and reading back.
pub struct Client {
    conn: Framed<TcpStream, StompCodec>,
    receipts: usize,
}

impl Client {
    /// Connect; `login` is (user, password, host header).
    pub async fn connect(port: u16, login: Option<(&str, &str, &str)>) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut conn = Framed::new(tcp, StompCodec::default());
        let mut f = Frame::new("CONNECT")
            .header("accept-version", "1.2")
            .header("host", login.map_or("localhost", |l| l.2));
        if let Some((u, p, _)) = login {
            f = f.header("login", u).header("passcode", p);
        }
        conn.send(Out::Frame(f)).await.expect("send CONNECT");
        match conn.next().await {
            Some(Ok(Item::Frame(f))) if f.command == "CONNECTED" => {}
            other => panic!("no CONNECTED: {other:?}"),
        }
        Client { conn, receipts: 0 }
    }

    /// Send messages to a queue and wait for every receipt. Each is (body, extra headers).
    pub async fn send(&mut self, queue: &str, messages: &[Message]) {
        for (body, headers) in messages {
            self.receipts += 1;
            let mut f = Frame::new("SEND")
                .header("destination", format!("/queue/{queue}"))
                .header("persistent", "true")
                .header("receipt", self.receipts.to_string());
            for (k, v) in headers {
                f = f.header(k, v.clone());
            }
            f.body = body.clone().into();
            self.conn.feed(Out::Frame(f)).await.expect("feed");
        }
        self.conn.flush().await.expect("flush");
        let mut waiting = messages.len();
        while waiting > 0 {
            match self.conn.next().await {
                Some(Ok(Item::Frame(f))) if f.command == "RECEIPT" => waiting -= 1,
                Some(Ok(Item::Heartbeat)) => {}
                other => panic!("no RECEIPT: {other:?}"),
            }
        }
    }

    /// Text messages `prefix-000000`... with `message-id`-independent bodies.
    pub async fn send_numbered(&mut self, queue: &str, prefix: &str, n: usize) {
        let messages: Vec<_> = (0..n)
            .map(|i| (format!("{prefix}-{i:06}").into_bytes(), Vec::new()))
            .collect();
        for chunk in messages.chunks(500) {
            self.send(queue, chunk).await;
        }
    }

    /// Every message of a queue (auto-acknowledged): reads until the queue stays quiet for
    /// `quiet`.
    pub async fn drain(&mut self, queue: &str, quiet: Duration) -> Vec<Frame> {
        let f = Frame::new("SUBSCRIBE")
            .header("id", "drain")
            .header("destination", format!("/queue/{queue}"))
            .header("ack", "auto");
        self.conn.send(Out::Frame(f)).await.expect("subscribe");
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(quiet, self.conn.next()).await {
                Ok(Some(Ok(Item::Frame(f)))) if f.command == "MESSAGE" => out.push(f),
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("drain: {other:?}"),
                Err(_) => break,
            }
        }
        let _ = self
            .conn
            .send(Out::Frame(Frame::new("UNSUBSCRIBE").header("id", "drain")))
            .await;
        out
    }
}
