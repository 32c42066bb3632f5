//! A TCP proxy in front of the broker, on loopback, for outages that do not disturb other
//! tests: [`BrokerProxy::cut`] closes every connection through it and turns new ones away at
//! once (as a broker that is down does), [`BrokerProxy::restore`] lets them through again.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// See the module docs. The proxy stops when dropped.
pub struct BrokerProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl BrokerProxy {
    /// Listen on an ephemeral loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let (cut, cut_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    // Down: the connection closes before the AMQP handshake.
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, cut_rx.clone()));
            }
        });
        Self { addr, cut, task }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Close every connection through the proxy, and every new one until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Let connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut.send_replace(true);
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut broker) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut broker) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
    // Dropping both ends closes them: the client sees its connection end.
}
