//! Serving connections: hyper's HTTP/1 directly, because `axum::serve` has
//! no knobs for timeouts, with the client's address on every request (for
//! the per-client limit) and graceful shutdown.
//!
//! Owns: every accepted connection until it closes. A connection that has
//! not sent a whole request head [`HEADER_READ`] after it opened or after
//! its last answer (half-sent headers, or idle between keep-alive requests)
//! is closed; so is one whose client has not taken a byte of our answer for
//! [`WRITE_STALL`]. Bodies have their own deadline (`limits`); a body that
//! stops short of its Content-Length is answered 408 and the connection
//! closed, since hyper never reuses a connection whose body was not read.
//!
//! With HTTPS (`tls`) the same holds over TLS: each connection's task first
//! runs the handshake, which must finish within its deadline, then serves
//! HTTP/1.1 on the decrypted stream exactly as on a plain one. Accepting
//! never waits on a handshake.

use super::tls::Tls;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A request head must arrive whole within this, from when the connection
/// opened or its previous answer was sent.
pub const HEADER_READ: Duration = Duration::from_secs(5);
/// A client that takes none of our answer for this long is gone.
pub const WRITE_STALL: Duration = Duration::from_secs(30);
/// At shutdown, connections still open after this are dropped.
const DRAIN: Duration = Duration::from_secs(10);
/// Hyper answers a head with more headers than this itself (431, no body);
/// `limits` refuses more than `MAX_HEADERS` first, in the API's shape.
const HYPER_MAX_HEADERS: usize = 256;

/// Serve until `shutdown` fires, then finish in-flight requests (at most
/// [`DRAIN`]). With `tls`, every connection is HTTPS and the certificate's
/// files are watched until then.
pub async fn run(
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ).max_headers(HYPER_MAX_HEADERS);
    let (handshake, watching) = match tls {
        Some(tls) => {
            let (handshake, watcher) = tls.start(shutdown.clone());
            (Some(handshake), Some(tokio::spawn(watcher)))
        }
        None => (None, None),
    };
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            stream,
            peer,
            router: router.clone(),
            builder: builder.clone(),
            // Taken here, before any shutdown signal, so the connection
            // sees the signal even if its handshake ends after it.
            graceful: graceful.watcher(),
        };
        tokio::spawn(connection.serve(handshake.clone(), shutdown.clone()));
    }
    drop(listener);
    if let Some(watching) = watching {
        watching.abort();
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open {DRAIN:?} after shutdown began were dropped");
    }
    Ok(())
}

/// One accepted connection, served by its own task.
struct Connection {
    stream: TcpStream,
    /// Put on every request, for the per-client limit.
    peer: SocketAddr,
    router: Router,
    builder: http1::Builder,
    /// Closes the connection gracefully at shutdown.
    graceful: Watcher,
}

impl Connection {
    /// Serve HTTP/1.1, after a TLS handshake when `handshake` is given
    /// (given up at its deadline or at shutdown).
    async fn serve(self, handshake: Option<(TlsAcceptor, Duration)>, shutdown: CancellationToken) {
        let Self { stream, peer, router, builder, graceful } = self;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let stream = Stalled::new(stream);
        let served = match handshake {
            None => graceful.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
            Some((acceptor, deadline)) => {
                let accepted = tokio::select! {
                    accepted = tokio::time::timeout(deadline, acceptor.accept(stream)) => accepted,
                    () = shutdown.cancelled() => return,
                };
                match accepted {
                    Ok(Ok(stream)) => graceful.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "no TLS handshake within {deadline:?}; closed");
                        return;
                    }
                }
            }
        };
        if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "connection closed");
        }
    }
}

/// Errors of one connection (reset before it was accepted) are nobody's
/// concern; others (out of file descriptors) are logged and retried after a
/// pause rather than spun on.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A connection whose writes fail once the client has taken nothing for
/// [`WRITE_STALL`].
struct Stalled<T> {
    io: T,
    /// Armed while a write waits on the client, dropped on progress.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> Stalled<T> {
    fn new(io: T) -> Self {
        Self { io, stall: None }
    }

    fn waiting<R>(&mut self, cx: &mut Context<'_>, progress: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if progress.is_ready() {
            self.stall = None;
            return progress;
        }
        let stall = self.stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stalled<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stalled<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let progress = Pin::new(&mut self.io).poll_write(cx, buf);
        self.waiting(cx, progress)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let progress = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.waiting(cx, progress)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let progress = Pin::new(&mut self.io).poll_flush(cx);
        self.waiting(cx, progress)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let progress = Pin::new(&mut self.io).poll_shutdown(cx);
        self.waiting(cx, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client that stops reading our answer is let go after
    /// [`WRITE_STALL`]; one that keeps reading, however slowly, is not.
    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_let_go() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut ours = Stalled::new(ours);
        let writing = tokio::spawn(async move { ours.write_all(&[0u8; 1024]).await });
        tokio::time::sleep(WRITE_STALL - Duration::from_secs(1)).await;
        let mut buf = [0u8; 64];
        theirs.read_exact(&mut buf).await.unwrap();
        tokio::time::sleep(WRITE_STALL - Duration::from_secs(1)).await;
        assert!(!writing.is_finished(), "progress restarts the clock");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let error = writing.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
