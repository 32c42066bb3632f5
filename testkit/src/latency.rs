//! Latency on a link, made in user space: the kernels the tests run on may lack `sch_netem`
//! (`tc qdisc … netem` is then "Specified qdisc kind is unknown"), so a forwarder holds every
//! chunk of bytes for a delay, with jitter, in each direction. Order is kept (a chunk is never
//! released before the one read ahead of it), as on a TCP link whose packets are delayed.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long each chunk is held: `delay`, plus or minus up to `jitter`, evenly at random.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    /// The mean delay, each way.
    pub delay: Duration,
    /// The most a chunk's delay differs from `delay`.
    pub jitter: Duration,
}

impl Latency {
    fn draw(&self) -> Duration {
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        let spread = self.jitter.as_micros() as u64 * 2 + 1;
        (self.delay + Duration::from_micros(random % spread)).saturating_sub(self.jitter)
    }
}

/// Accept connections on `listener` until the task is dropped, forwarding each to `upstream`
/// with `latency` added both ways.
pub async fn forward_with_latency(listener: TcpListener, upstream: SocketAddr, latency: Latency) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                delayed(client_read, server_write, latency),
                delayed(server_read, client_write, latency),
            );
        });
    }
}

/// Copy `from` to `to`, each chunk released `latency` after it was read, in order.
async fn delayed(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, latency: Latency) {
    let (chunks, mut held) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut last = Instant::now();
        let mut buffer = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buffer).await {
            last = last.max(Instant::now() + latency.draw());
            if chunks.send((last, buffer[..n].to_vec())).is_err() {
                break;
            }
        }
        // Dropping `chunks` ends the writer once it has written what it holds.
    };
    let write = async move {
        while let Some((release, chunk)) = held.recv().await {
            tokio::time::sleep_until(release).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round trip through the forwarder takes at least the delay twice (there and back):
    /// a lower bound, which a slow machine only makes easier to meet.
    #[tokio::test]
    async fn a_round_trip_is_delayed_both_ways_and_bytes_keep_their_order() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let (mut read, mut write) = socket.split();
            tokio::io::copy(&mut read, &mut write).await.unwrap();
        });
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        let latency = Latency {
            delay: Duration::from_millis(60),
            jitter: Duration::from_millis(20),
        };
        tokio::spawn(forward_with_latency(front, echo_addr, latency));
        let mut client = TcpStream::connect(front_addr).await.unwrap();
        let sent: Vec<u8> = (0..=255).collect();
        let started = Instant::now();
        for chunk in sent.chunks(16) {
            client.write_all(chunk).await.unwrap();
        }
        let mut echoed = vec![0; sent.len()];
        client.read_exact(&mut echoed).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(2 * 40),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(echoed, sent);
    }
}
