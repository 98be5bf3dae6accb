//! The HTTP server's listener, guarded like infrastructure: at most
//! `http.max_connections` open connections and `http.max_connections_per_client`
//! from one address, and every connection closed after `http.idle_timeout_seconds`
//! without a byte read or written (a slow or stalled client: headers that never
//! end, a body never sent, a keep-alive left open, an event stream nobody reads).
//!
//! axum's own listener has neither, and hyper's header timeout is not set by
//! `axum::serve`: without them two clients holding ten thousand sockets each ran
//! the process out of file descriptors, and the webhooks' deliveries with it.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use super::live::Live;

/// The limits of [`GuardedListener`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections, at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections from one client address, at most; more are closed at once.
    pub max_per_client: usize,
    /// A connection without a byte read or written this long is closed.
    pub idle_timeout: Duration,
}

/// A TCP listener that keeps to [`ConnectionLimits`].
pub struct GuardedListener {
    inner: TcpListener,
    limits: ConnectionLimits,
    open: Arc<Semaphore>,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    live: Arc<Live>,
}

impl GuardedListener {
    /// Guards `inner` with `limits`; refusals are counted in `live`'s metrics.
    pub fn new(inner: TcpListener, limits: ConnectionLimits, live: Arc<Live>) -> GuardedListener {
        GuardedListener {
            inner,
            limits,
            open: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            per_client: Arc::new(Mutex::new(HashMap::new())),
            live,
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedStream, SocketAddr) {
        loop {
            let Ok(permit) = Arc::clone(&self.open).acquire_owned().await else {
                // The semaphore is never closed; wait rather than spin if it were.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let (stream, address) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // taken: wait a moment, as axum's own listener does.
                    eprintln!("onrust: http: accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let client = address.ip();
            {
                let mut counts = self
                    .per_client
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let count = counts.entry(client).or_insert(0);
                if *count >= self.limits.max_per_client {
                    self.live.metrics.http_connections_refused.inc();
                    continue;
                }
                *count += 1;
            }
            let _ = stream.set_nodelay(true);
            let idle_timeout = self.limits.idle_timeout;
            return (
                GuardedStream {
                    stream,
                    idle: Box::pin(tokio::time::sleep(idle_timeout)),
                    idle_timeout,
                    _slot: ClientSlot {
                        client,
                        counts: Arc::clone(&self.per_client),
                        _permit: permit,
                    },
                },
                address,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection's place among the open ones, given back when it closes.
struct ClientSlot {
    client: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// A connection that fails with `TimedOut` once idle for its timeout.
pub struct GuardedStream {
    stream: TcpStream,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    _slot: ClientSlot,
}

impl GuardedStream {
    /// Bytes moved: the idle time starts again.
    fn touch(&mut self) {
        let deadline = Instant::now() + self.idle_timeout;
        self.idle.as_mut().reset(deadline);
    }

    /// Pending until the idle time runs out, then the error that closes it.
    fn poll_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    this.touch();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
