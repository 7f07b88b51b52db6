//! The callers' TCP connections, presented to HTTP/2 as streams without
//! vectored writes, so that the frames of many responses leave in one write.
//!
//! Why: with vectored I/O, h2 chains every DATA payload over 256 bytes into
//! the write instead of copying it, and while a payload is chained it cannot
//! buffer another frame. Every response (and every message of a stream) then
//! costs its own `writev`, and its trailers a second one: three writes and
//! two wake-ups of the caller per unary call. Without vectored I/O, h2 copies
//! payloads up to 1 KiB into its write buffer (a `LockDoor` message or a
//! `GetLock` answer is smaller), so the HEADERS, DATA and trailers of a call,
//! and the messages of thousands of streams, leave together. BENCHMARKS.md
//! has the measurements.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A caller's connection (TCP, or TLS over TCP) whose writes are never
/// vectored. Under TLS it also means fewer, fuller TLS records.
#[derive(Debug)]
pub struct CoalescingStream<S = TcpStream>(S);

impl<S> CoalescingStream<S> {
    pub fn new(stream: S) -> Self {
        Self(stream)
    }
}

impl From<TcpStream> for CoalescingStream {
    fn from(stream: TcpStream) -> Self {
        Self(stream)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CoalescingStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CoalescingStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl Connected for CoalescingStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_pass_both_ways_and_writes_are_not_vectored() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream.write_all(b"ping").await.unwrap();
            let mut answer = [0_u8; 4];
            stream.read_exact(&mut answer).await.unwrap();
            answer
        });
        let (accepted, _) = listener.accept().await.unwrap();
        let mut server = CoalescingStream::from(accepted);
        assert!(!server.is_write_vectored());
        assert_eq!(server.connect_info().remote_addr().map(|a| a.ip()), Some(address.ip()));
        let mut request = [0_u8; 4];
        server.read_exact(&mut request).await.unwrap();
        assert_eq!(&request, b"ping");
        server.write_all(b"pong").await.unwrap();
        assert_eq!(&client.await.unwrap(), b"pong");
    }
}
