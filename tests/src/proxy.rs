//! A TCP fault proxy of our own, on tokio, that fault tests put between Sluice and a broker or
//! target (on 127.0.0.1 only). The test drives it:
//!
//! - [`FaultProxy::cut`]: every connection is reset and new ones are refused (the listener is
//!   closed) until [`FaultProxy::heal`]: a network cut or a host that went away.
//! - [`FaultProxy::black_hole`]: connections stay open but nothing moves either way, and new
//!   ones are accepted and left silent: only heart-beats can tell.
//! - [`FaultProxy::reset_mid_frame`]: the next chunk from the server is forwarded half, then
//!   both sides are reset.
//! - [`FaultProxy::latency`]: every chunk waits this long before it is forwarded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Pass,
    Cut,
    BlackHole,
}

#[derive(Clone, Copy, Debug)]
struct State {
    mode: Mode,
    latency: Duration,
    /// Bumped to reset every connection open at that moment.
    generation: u64,
}

/// A TCP proxy whose faults a test turns on and off.
pub struct FaultProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    state: watch::Sender<State>,
    reset_next: Arc<AtomicBool>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on a free port of 127.0.0.1 and forward to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (state, _) = watch::channel(State {
            mode: Mode::Pass,
            latency: Duration::ZERO,
            generation: 0,
        });
        let reset_next = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(
            Some(listener),
            addr,
            upstream,
            state.clone(),
            reset_next.clone(),
            accepted.clone(),
        ));
        FaultProxy {
            addr,
            upstream,
            state,
            reset_next,
            accepted,
            task,
        }
    }

    /// `host:port` of the proxy, for URLs.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// What it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Connections accepted so far (how often the client reconnected).
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Reset every connection and refuse new ones until [`FaultProxy::heal`].
    pub fn cut(&self) {
        self.state.send_modify(|s| {
            s.mode = Mode::Cut;
            s.generation += 1;
        });
    }

    /// Keep connections open, move nothing, accept new ones silently.
    pub fn black_hole(&self) {
        self.state.send_modify(|s| s.mode = Mode::BlackHole);
    }

    /// Back to forwarding (after a cut, the port is listened on again).
    pub fn heal(&self) {
        self.state.send_modify(|s| s.mode = Mode::Pass);
    }

    /// Reset every connection open now (new ones are served as usual).
    pub fn reset_all(&self) {
        self.state.send_modify(|s| s.generation += 1);
    }

    /// Forward half of the next chunk the server sends, then reset both sides.
    pub fn reset_mid_frame(&self) {
        self.reset_next.store(true, Ordering::SeqCst);
    }

    /// Delay every chunk by `latency` (zero for none).
    pub fn latency(&self, latency: Duration) {
        self.state.send_modify(|s| s.latency = latency);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.reset_all();
    }
}

/// Accept while passing or black-holing; while cut, close the listener (new connections are
/// refused) and bind the same port again when healed.
async fn serve(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    upstream: SocketAddr,
    state: watch::Sender<State>,
    reset_next: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
) {
    let mut changes = state.subscribe();
    loop {
        let mode = changes.borrow_and_update().mode;
        if mode == Mode::Cut {
            listener = None;
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match rebind(addr).await {
                Some(l) => l,
                None => return,
            },
        };
        tokio::select! {
            accepted_conn = l.accept() => {
                listener = Some(l);
                let Ok((client, _)) = accepted_conn else { continue };
                accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(client, upstream, state.subscribe(), reset_next.clone()));
            }
            changed = changes.changed() => {
                listener = Some(l);
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Bind the proxy's port again after a cut (the old socket may linger briefly).
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..200 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// One proxied connection: two pumps, ended together by a close, a reset or a cut.
async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<State>,
    reset_next: Arc<AtomicBool>,
) {
    let born = state.borrow_and_update().generation;
    // A black-holed connection is accepted but never reaches the server.
    while state.borrow().mode == Mode::BlackHole {
        if state.changed().await.is_err() {
            return;
        }
    }
    if state.borrow().generation != born || state.borrow().mode == Mode::Cut {
        return reset(client);
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let end = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let no_reset = Arc::new(AtomicBool::new(false));
        // Whichever side ends first ends the connection.
        tokio::select! {
            e = pump(cr, sw, state.clone(), born, no_reset) => e,
            e = pump(sr, cw, state.clone(), born, reset_next) => e,
        }
    };
    if end == End::Reset {
        // RST rather than FIN, on both sides.
        let _ = server.set_zero_linger();
        reset(client);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    Reset,
}

/// Copy `from` to `to`, obeying the state, until a side closes or the proxy resets.
async fn pump(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    mut state: watch::Receiver<State>,
    born: u64,
    reset_next: Arc<AtomicBool>,
) -> End {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Paused while black-holed; ended by a reset or a cut.
        loop {
            let s = *state.borrow_and_update();
            if s.generation != born || s.mode == Mode::Cut {
                return End::Reset;
            }
            if s.mode == Mode::Pass {
                break;
            }
            if state.changed().await.is_err() {
                return End::Closed;
            }
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return End::Closed,
                Ok(n) => n,
            },
            _ = state.changed() => continue,
        };
        let latency = state.borrow().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if reset_next.swap(false, Ordering::SeqCst) {
            let _ = to.write_all(&buf[..n.div_ceil(2)]).await;
            let _ = to.flush().await;
            return End::Reset;
        }
        // Data read before a black hole began is still delivered: it had left the sender.
        if to.write_all(&buf[..n]).await.is_err() {
            return End::Closed;
        }
    }
}

fn reset(client: TcpStream) {
    let _ = client.set_zero_linger();
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn echo(s: &mut TcpStream, text: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(text).await?;
        let mut got = vec![0u8; text.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn passes_cuts_heals_and_black_holes() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(echo(&mut s, b"hello").await.unwrap(), b"hello");

        proxy.cut();
        let mut b = [0u8; 8];
        let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "cut ends the connection: {r:?}"
        );
        // Refused while cut (the listener is closed).
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(proxy.addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "new connections are refused while cut");

        proxy.heal();
        let mut s = loop {
            if let Ok(s) = TcpStream::connect(proxy.addr).await {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(echo(&mut s, b"again").await.unwrap(), b"again");

        proxy.black_hole();
        let r = tokio::time::timeout(Duration::from_millis(500), echo(&mut s, b"lost?")).await;
        assert!(r.is_err(), "nothing comes back from a black hole");
        proxy.heal();
        let mut rest = vec![0u8; 5];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(rest, b"lost?");

        proxy.reset_mid_frame();
        s.write_all(b"abcdefgh").await.unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        assert_eq!(got, b"abcd", "half a chunk, then a reset");
    }
}
