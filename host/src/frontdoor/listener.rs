//! Serving HTTP/1.1 connections with limits, for the MCP listener and the
//! admin listener alike: a cap on open connections, a deadline for a
//! request's headers (slowloris), an idle keep-alive timeout, and the
//! graceful shutdown `axum::serve` had (on the stop, the listener closes,
//! idle connections close, a connection with a request in flight closes
//! once its response is sent).
//!
//! The timers are kept here rather than in hyper: hyper's
//! `header_read_timeout` also runs while a keep-alive connection waits for
//! its next request, which would make the two deadlines one. Here a
//! connection without a request in progress is idle (keep-alive timeout
//! from its last response, or from its accept); once the first byte of a
//! request arrives, its headers must be complete within the header timeout.
//! A request whose headers have arrived counts until its response body ends
//! (an event stream, however long, is not idle).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Default deadline for a request's headers once its first byte has
/// arrived: a real client sends them in one packet; a slowloris client
/// trickles them to hold the connection.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time a connection may sit without a request in progress before
/// it is closed: above common client pools' idle times (reqwest 90 s,
/// Node 5 s, Python httpx 5 s) would waste descriptors, below them costs
/// reconnects; 60 s matches common proxies (nginx keepalive_timeout 75 s).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT_MS: u64 = 60_000;
/// Default cap on open connections per listener when the open-file limit
/// allows it: each costs a descriptor and some memory; thousands of agents'
/// connections fit, and past it new ones are refused instead of the
/// process running out of descriptors for its tools' upstreams.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Largest cap a setting may ask for.
pub const MAX_MAX_CONNECTIONS: usize = 1_000_000;
/// The shortest check interval, however small the configured deadlines.
const MIN_CHECK_INTERVAL: Duration = Duration::from_millis(1);
/// Refused connections are logged at most this often (with a count), so a
/// flood does not flood the log too.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Pause after an accept error (out of descriptors): retrying at once would
/// spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// What a connection past the cap is told before it is closed.
const REFUSED_RESPONSE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n";

/// The limits one listener applies to its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most; past it new ones are refused.
    pub max_connections: usize,
    /// From a request's first byte to the end of its headers.
    pub header_read_timeout: Duration,
    /// How long a connection without a request in progress stays open.
    pub keep_alive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::new(None, None, None)
    }
}

impl ConnectionLimits {
    /// The given settings, defaults where unset. The default connection cap
    /// is [`DEFAULT_MAX_CONNECTIONS`], or half the process's open-file limit
    /// when that is lower (the other half is for tools, upstreams and the
    /// other listener).
    pub fn new(
        max_connections: Option<usize>,
        header_read_timeout_ms: Option<u64>,
        keep_alive_timeout_ms: Option<u64>,
    ) -> Self {
        Self {
            max_connections: max_connections.unwrap_or_else(default_max_connections),
            header_read_timeout: Duration::from_millis(
                header_read_timeout_ms.unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_MS),
            ),
            keep_alive_timeout: Duration::from_millis(
                keep_alive_timeout_ms.unwrap_or(DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
            ),
        }
    }
}

fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let half = limit.map_or(usize::MAX, |n| usize::try_from(n / 2).unwrap_or(usize::MAX));
    DEFAULT_MAX_CONNECTIONS.min(half).max(1)
}

/// Serves `app` on `listener` under `limits` until `stop` is cancelled,
/// then until every connection has closed. Each request carries the
/// client's [`ConnectInfo<SocketAddr>`]. `name` labels the log lines.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
    name: &'static str,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, MAX_MAX_CONNECTIONS);
    let permits = Arc::new(Semaphore::new(max));
    let mut refusals = Refusals::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if !is_connection_error(&e) {
                    tracing::warn!(listener = name, "accept failed: {e}");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            // Told so (if its buffer takes it) and closed now: queueing it
            // would hold a descriptor for a client that cannot be served.
            let _ = tcp.try_write(REFUSED_RESPONSE);
            drop(tcp);
            refusals.note(name, max);
            continue;
        };
        // Without TCP_NODELAY a response written in two segments waits
        // ~40 ms for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            connection(tcp, peer, app, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    // Every permit back: every connection has closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
    Ok(())
}

/// Errors of one connection that do not concern the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Counts connections refused at the cap and logs them now and then.
#[derive(Debug, Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, name: &str, max: usize) {
        self.since_log += 1;
        let due = self
            .last_log
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_INTERVAL);
        if due {
            tracing::warn!(
                listener = name,
                max_connections = max,
                refused = self.since_log,
                "connection refused: the listener is at its connection cap"
            );
            self.since_log = 0;
            self.last_log = Some(Instant::now());
        }
    }
}

/// Why a connection was closed by its timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// A request's headers did not arrive in time.
    Headers,
    /// No request for the keep-alive time.
    Idle,
}

/// What one connection is doing, shared by its reads and its requests.
/// Nothing is woken when it changes: the connection looks at it on each
/// tick of its check interval (see [`check_interval`]), so a request costs
/// no timer or task wake-up of its own.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    /// Requests whose headers have arrived and whose responses have not ended.
    busy: usize,
    /// When the connection last had no request in progress.
    idle_since: Instant,
    /// When the first byte of the next request arrived, while not busy.
    partial_since: Option<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                busy: 0,
                idle_since: Instant::now(),
                partial_since: None,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ActivityState) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Bytes arrived.
    fn read(&self) {
        self.with(|s| {
            if s.busy == 0 && s.partial_since.is_none() {
                s.partial_since = Some(Instant::now());
            }
        });
    }

    /// A request's headers have arrived: it counts until the guard drops.
    fn begin(self: &Arc<Self>) -> Busy {
        self.with(|s| {
            s.busy += 1;
            s.partial_since = None;
        });
        Busy(Arc::clone(self))
    }

    /// When the connection expires if nothing changes, and why.
    fn deadline(&self, limits: &ConnectionLimits) -> (Instant, Option<Expired>) {
        self.with(|s| {
            if s.busy > 0 {
                // Looked at again later; a response ending moves `idle_since`.
                (Instant::now() + limits.keep_alive_timeout, None)
            } else if let Some(first) = s.partial_since {
                (first + limits.header_read_timeout, Some(Expired::Headers))
            } else {
                (
                    s.idle_since + limits.keep_alive_timeout,
                    Some(Expired::Idle),
                )
            }
        })
    }
}

/// One request in progress on its connection.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.busy = s.busy.saturating_sub(1);
            if s.busy == 0 {
                s.idle_since = Instant::now();
                s.partial_since = None;
            }
        });
    }
}

/// Serves one connection until it closes, its timers expire, or the stop
/// lets it finish.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: tcp,
        activity: Arc::clone(&activity),
    });
    let service = PerConnection {
        inner: TowerToHyperService::new(app),
        peer,
        activity: Arc::clone(&activity),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own timers (above); hyper's would need its timer and would merge
    // the two deadlines.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    let mut checks = tokio::time::interval(check_interval(&limits));
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = checks.tick() => {
                let (due, why) = activity.deadline(&limits);
                if why.is_some() && due <= Instant::now() {
                    if why == Some(Expired::Headers) {
                        tracing::debug!(%peer, "connection closed: request headers not complete in time");
                    } else {
                        tracing::trace!(%peer, "idle connection closed");
                    }
                    return;
                }
            }
        }
    }
}

/// How often a connection looks at its deadlines: a quarter of the shorter
/// one, so each is enforced within 25% of its setting, while a request
/// costs no timer of its own (re-arming a timer per request, and the
/// wake-ups that came with it, cost ~6% of the MCP load figure:
/// BENCHMARKS.md).
fn check_interval(limits: &ConnectionLimits) -> Duration {
    (limits.header_read_timeout.min(limits.keep_alive_timeout) / 4).max(MIN_CHECK_INTERVAL)
}

/// The connection's socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The router for one connection: each request carries the peer's address
/// and counts as busy until its response body ends.
struct PerConnection {
    inner: TowerToHyperService<Router>,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for PerConnection {
    type Response = hyper::Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let busy = self.activity.begin();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Tracked { body, _busy: busy }))
        })
    }
}

/// A response body that keeps its request busy until it is dropped (hyper
/// drops it once it has been written, or the client has gone).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_connection_is_idle_then_reading_headers_then_busy() {
        let activity = Arc::new(Activity::new());
        assert_eq!(activity.deadline(&limits()).1, Some(Expired::Idle));
        activity.read();
        let (due, why) = activity.deadline(&limits());
        assert_eq!(why, Some(Expired::Headers));
        assert!(due <= Instant::now() + limits().header_read_timeout);
        let busy = activity.begin();
        activity.read();
        assert_eq!(activity.deadline(&limits()).1, None, "busy never expires");
        drop(busy);
        assert_eq!(activity.deadline(&limits()).1, Some(Expired::Idle));
    }

    #[test]
    fn defaults_fit_the_open_file_limit() {
        let limits = ConnectionLimits::default();
        assert!((1..=DEFAULT_MAX_CONNECTIONS).contains(&limits.max_connections));
        assert_eq!(
            ConnectionLimits::new(Some(7), Some(1), Some(2)),
            ConnectionLimits {
                max_connections: 7,
                header_read_timeout: Duration::from_millis(1),
                keep_alive_timeout: Duration::from_millis(2),
            }
        );
    }
}
