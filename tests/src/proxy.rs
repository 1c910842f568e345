//! A fault-injecting TCP proxy for the links between nodes: it forwards to a target while open,
//! delays every chunk it forwards, cuts the link (closes what is open and refuses what comes), or
//! is flaky (closes connections at random moments). Nodes know each other by address, so a node
//! configured with the proxy's address talks to its peer only through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Open,
    /// Every chunk waits this long before it is forwarded.
    Delay(Duration),
    /// Closed, and new connections refused.
    Cut,
    /// Each connection is closed after a random time up to this long.
    Flaky(Duration),
}

/// A proxy to one target; dropping it stops it.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    fault: watch::Sender<Fault>,
    task: tokio::task::JoinHandle<()>,
    /// Bytes forwarded, both ways.
    pub bytes: Arc<AtomicU64>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy to `target` on a fresh port (callable outside async code, inside a runtime).
    pub fn start(target: SocketAddr) -> Self {
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std.set_nonblocking(true).expect("nonblocking");
        let addr = std.local_addr().expect("addr");
        let listener = TcpListener::from_std(std).expect("tokio listener");
        let (fault, watching) = watch::channel(Fault::Open);
        let bytes = Arc::new(AtomicU64::new(0));
        let counted = bytes.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let fault = *watching.borrow();
                if fault == Fault::Cut {
                    drop(client);
                    continue;
                }
                let (watching, counted) = (watching.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    link(client, server, watching, counted).await;
                });
            }
        });
        Self { addr, fault, task, bytes }
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

/// Copies `from` to `to` chunk by chunk, each after the delay the fault asks for.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, fault: watch::Receiver<Fault>, bytes: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let delay = match *fault.borrow() {
            Fault::Delay(d) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Forwards both ways until either side closes or the fault calls for closing.
async fn link(client: TcpStream, server: TcpStream, mut fault: watch::Receiver<Fault>, bytes: Arc<AtomicU64>) {
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let lifetime = match *fault.borrow() {
        Fault::Flaky(max) => Duration::from_millis(rand::random_range(0..max.as_millis().max(1) as u64)),
        _ => Duration::from_secs(86_400),
    };
    let up = pump(cr, sw, fault.clone(), bytes.clone());
    let down = pump(sr, cw, fault.clone(), bytes);
    let cut = async {
        loop {
            if fault.changed().await.is_err() {
                return std::future::pending::<()>().await;
            }
            if matches!(*fault.borrow(), Fault::Cut | Fault::Flaky(_)) {
                return;
            }
        }
    };
    tokio::select! {
        () = up => {}
        () = down => {}
        () = cut => {}
        () = tokio::time::sleep(lifetime) => {}
    }
}
