//! The HTTP/2 handshake deadline: a caller's connection must send the HTTP/2
//! client preface within a few seconds of being accepted, or it is closed.
//!
//! Why here and not in hyper: hyper's HTTP/2 server has no handshake
//! time-out, so a socket that never sends a byte holds a file descriptor (and
//! a connection slot) for ever. The preface is read before hyper sees the
//! connection and then replayed to it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// What every HTTP/2 client sends first (RFC 9113, section 3.4).
pub const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Why a connection was closed before HTTP/2 began.
#[derive(Debug)]
pub enum HandshakeFailure {
    /// The preface did not arrive in time.
    TimedOut,
    /// The connection sent something that is not HTTP/2 (HTTP/1, TLS, noise).
    NotHttp2,
    /// The connection closed or failed while the preface was read.
    Io(io::Error),
}

/// Waits for the preface on `stream` for at most `timeout`.
pub async fn read_preface<S: AsyncRead + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Result<Prefaced<S>, HandshakeFailure> {
    let mut preface = [0_u8; HTTP2_PREFACE.len()];
    match tokio::time::timeout(timeout, stream.read_exact(&mut preface)).await {
        Err(_) => Err(HandshakeFailure::TimedOut),
        Ok(Err(e)) => Err(HandshakeFailure::Io(e)),
        Ok(Ok(_)) if &preface != HTTP2_PREFACE => Err(HandshakeFailure::NotHttp2),
        Ok(Ok(_)) => Ok(Prefaced { stream, replayed: 0 }),
    }
}

/// A connection whose preface was read: reading it yields the preface again,
/// then the rest of the connection.
#[derive(Debug)]
pub struct Prefaced<S> {
    stream: S,
    /// How much of the preface has been handed back out.
    replayed: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefaced<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.replayed < HTTP2_PREFACE.len() {
            let rest = &HTTP2_PREFACE[self.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefaced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_preface_is_replayed_then_the_rest_follows() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(HTTP2_PREFACE).await.unwrap();
        client.write_all(b"frames").await.unwrap();
        drop(client);
        let mut prefaced = read_preface(server, Duration::from_secs(1)).await.unwrap();
        let mut everything = Vec::new();
        prefaced.read_to_end(&mut everything).await.unwrap();
        assert_eq!(&everything[..24], HTTP2_PREFACE);
        assert_eq!(&everything[24..], b"frames");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let outcome = read_preface(server, Duration::from_secs(3)).await;
        assert!(matches!(outcome, Err(HandshakeFailure::TimedOut)));
    }

    #[tokio::test]
    async fn http1_is_refused() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let outcome = read_preface(server, Duration::from_secs(1)).await;
        assert!(matches!(outcome, Err(HandshakeFailure::NotHttp2)));
    }
}
