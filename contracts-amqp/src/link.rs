//! The connection to the broker, kept up: a supervisor that notices a lost connection (an
//! error event from lapin, or anyone reporting a connection-class failure), reconnects with
//! capped exponential backoff and jitter, trying each broker address in turn, and re-declares
//! every exchange, queue and binding declared so far before anyone uses the new connection.
//! Consumers re-subscribe by themselves (`consumer.rs`); publishers and declarations wait for
//! the link and retry (`transport.rs`).
//!
//! What is guaranteed across a reconnection is in book/src/reliability.md, "Reconnection".

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use contracts_core::transport::{BrokerCause, ExchangeSpec, QueueSpec, TransportError};
use contracts_core::wire::topology;
use futures_core::Stream;
use lapin::options::{
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::{Notify, watch};

use crate::broker_error::{NOT_FOUND, closed, connection_gone, describe, reply_code};
use crate::fields::to_table;
use crate::uri::BrokerUri;

/// Publish channels per connection: enough that one slow confirm does not serialise every
/// caller, few enough to stay far below `channel_max`.
const PUBLISH_CHANNELS: usize = 4;

/// How often the supervisor looks at the connection's status between events.
const STATUS_CHECK: Duration = Duration::from_secs(1);

/// How the link reconnects after losing the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// The wait before the second attempt (the first is immediate); it doubles after each
    /// failed round, up to `max_delay`, with up to a quarter added at random so that many
    /// processes do not reconnect in step.
    pub initial_delay: Duration,
    /// The longest wait between rounds.
    pub max_delay: Duration,
    /// Rounds (each trying every broker address once) before giving up; `None`, the default,
    /// never gives up.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The policy with these delays and limit.
    pub fn new(initial_delay: Duration, max_delay: Duration, max_attempts: Option<u32>) -> Self {
        Self {
            initial_delay,
            max_delay,
            max_attempts,
        }
    }

    fn delay(&self, round: u32) -> Duration {
        let base = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(round.saturating_sub(1)))
            .min(self.max_delay);
        // Jitter without a random-number crate: a fresh `RandomState` is randomly keyed.
        let noise = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        base + base.mul_f64((noise % 1000) as f64 / 4000.0)
    }
}

/// Where the link stands.
#[derive(Clone)]
pub(crate) enum State {
    /// Connected: `generation` counts connections, so that a failure reported against an old
    /// one is not taken for a failure of the new one.
    Up {
        connection: Arc<Connection>,
        generation: u64,
    },
    /// Lost; the supervisor is reconnecting.
    Down,
    /// Closed by its owner.
    Closed,
    /// Reconnection gave up.
    GaveUp(String),
}

/// Everything declared through the link, in order, to declare again on a new connection.
#[derive(Default)]
struct Declared {
    exchanges: Vec<ExchangeSpec>,
    queues: Vec<QueueSpec>,
    bindings: Vec<(String, String, String)>,
    /// Queues declared under another name on the broker since their home node went: the
    /// name they were declared by, and the replacement's.
    replaced: HashMap<String, String>,
}

impl Declared {
    fn on_broker<'a>(&'a self, queue: &'a str) -> &'a str {
        self.replaced.get(queue).map_or(queue, String::as_str)
    }
}

pub(crate) struct Link {
    brokers: Vec<BrokerUri>,
    policy: ReconnectPolicy,
    state: watch::Sender<State>,
    /// Whether `state` is `Up`, for those who watch the connection.
    connected: watch::Sender<bool>,
    /// Why the broker blocks publishing on the current connection (`connection.blocked`, a
    /// memory or disk alarm), while it does.
    blocked: watch::Sender<Option<String>>,
    declared: Mutex<Declared>,
    /// The publish channels of one generation.
    publishers: Mutex<(u64, Vec<Arc<Channel>>)>,
    next_publisher: AtomicUsize,
    /// Someone saw a connection-class failure: the supervisor should look.
    suspect: Notify,
    shutdown: AtomicBool,
    /// Connections re-established since the first.
    reconnections: AtomicU64,
}

fn connection_properties() -> ConnectionProperties {
    ConnectionProperties::default()
        .with_connection_name(format!("contracts {}", env!("CARGO_PKG_VERSION")).into())
}

/// How long one connection attempt, or re-declaring the topology on a new connection, may
/// take: a broker that is starting can accept a socket and then not answer.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

async fn open(broker: &BrokerUri) -> Result<Connection, TransportError> {
    let refused = |detail: String, source: BrokerCause| TransportError::Connect {
        broker: broker.to_string(),
        detail,
        source,
    };
    let tls = broker
        .tls()
        .load()
        .map_err(|e| refused(String::new(), Box::new(e)))?;
    let runtime =
        lapin::runtime::default_runtime().map_err(|e| refused(String::new(), Box::new(e)))?;
    let connect = Connection::connect_uri_with_config(
        broker.to_lapin(),
        connection_properties(),
        tls,
        runtime,
    );
    match tokio::time::timeout(STEP_TIMEOUT, connect).await {
        Ok(connected) => connected.map_err(|e| {
            let hint = broker.is_tls().then(|| tls_hint(&e)).flatten();
            refused(hint.unwrap_or_default().to_owned(), Box::new(e))
        }),
        Err(_) => Err(TransportError::closed(format!(
            "connecting to {broker} took longer than {STEP_TIMEOUT:?}"
        ))),
    }
}

/// What a TLS failure usually means, where rustls's words or a bare socket error do not say.
fn tls_hint(e: &lapin::Error) -> Option<&'static str> {
    let lapin::ErrorKind::IOError(io) = e.kind() else {
        return None;
    };
    if io.to_string().contains("UnknownIssuer") {
        return Some(
            " (the broker's certificate is not signed by a CA in the system's roots or in \
             AMQP_SSL ca_certs)",
        );
    }
    // With TLS 1.3 a broker refusing the client's certificate (or its absence) only closes
    // the socket.
    matches!(
        io.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
    )
    .then_some(
        " (the broker closed the connection during the TLS handshake: it may require a client \
         certificate signed by a CA it trusts, AMQP_SSL certfile and keyfile)",
    )
}

impl Link {
    /// Connect to the first of `brokers` that answers and start supervising the connection.
    pub(crate) async fn connect(
        brokers: Vec<BrokerUri>,
        policy: ReconnectPolicy,
    ) -> Result<Arc<Self>, TransportError> {
        assert!(!brokers.is_empty(), "at least one broker address");
        let mut last = None;
        let mut connection = None;
        for (i, broker) in brokers.iter().enumerate() {
            match open(broker).await {
                Ok(c) => {
                    tracing::info!(%broker, "connected");
                    connection = Some((c, i));
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some((connection, on)) = connection else {
            return Err(last.expect("one attempt per broker"));
        };
        let connection = Arc::new(connection);
        let link = Arc::new(Self {
            brokers,
            policy,
            state: watch::Sender::new(State::Up {
                connection: connection.clone(),
                generation: 1,
            }),
            connected: watch::Sender::new(true),
            blocked: watch::Sender::new(None),
            declared: Mutex::default(),
            publishers: Mutex::new((0, Vec::new())),
            next_publisher: AtomicUsize::new(0),
            suspect: Notify::new(),
            shutdown: AtomicBool::new(false),
            reconnections: AtomicU64::new(0),
        });
        tokio::spawn(supervise(Arc::downgrade(&link), connection, 1, on));
        Ok(link)
    }

    /// Connections re-established since the first.
    pub(crate) fn reconnections(&self) -> u64 {
        self.reconnections.load(Ordering::Relaxed)
    }

    /// The broker addresses, for messages.
    pub(crate) fn brokers(&self) -> &[BrokerUri] {
        &self.brokers
    }

    /// The current connection, waiting for the supervisor while the link is down.
    pub(crate) async fn connection(&self) -> Result<(Arc<Connection>, u64), TransportError> {
        let mut state = self.state.subscribe();
        loop {
            match &*state.borrow_and_update() {
                State::Up {
                    connection,
                    generation,
                } => return Ok((connection.clone(), *generation)),
                State::Down => {}
                State::Closed => return Err(TransportError::closed("the transport was closed")),
                State::GaveUp(why) => return Err(TransportError::closed(why.clone())),
            }
            if state.changed().await.is_err() {
                return Err(TransportError::closed("the transport was dropped"));
            }
        }
    }

    /// Follow whether the link is connected.
    pub(crate) fn watch_connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    /// Follow whether (and why) the broker blocks publishing.
    pub(crate) fn watch_blocked(&self) -> watch::Receiver<Option<String>> {
        self.blocked.subscribe()
    }

    /// Why the broker blocks publishing now, if it does.
    pub(crate) fn blocked(&self) -> Option<String> {
        self.blocked.borrow().clone()
    }

    fn set(&self, state: State) -> State {
        // A new connection starts unblocked; the broker says so again if the alarm holds.
        self.blocked.send_replace(None);
        // The state first: whoever `connected` wakes must find it (a readiness probe woken by
        // a loss once read the link as still up).
        let up = matches!(state, State::Up { .. });
        let before = self.state.send_replace(state);
        self.connected.send_replace(up);
        before
    }

    /// Whether the link is connected now.
    pub(crate) fn is_up(&self) -> bool {
        matches!(&*self.state.borrow(), State::Up { .. })
    }

    /// Whether the link will never connect again.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(&*self.state.borrow(), State::Closed | State::GaveUp(_))
    }

    /// Report a failure that may mean the connection of `generation` is gone. Returns whether
    /// that connection is indeed gone (the caller should wait and retry).
    pub(crate) fn suspect(&self, generation: u64) -> bool {
        let gone = match &*self.state.borrow() {
            State::Up {
                connection,
                generation: current,
            } => *current != generation || !connection.status().connected(),
            State::Down => true,
            State::Closed | State::GaveUp(_) => false,
        };
        if gone {
            self.suspect.notify_one();
        }
        gone
    }

    /// Whether an operation on the connection of `generation` that failed with `e` should be
    /// retried on the next connection: the link saw that connection go, or `e` says it went
    /// ([`connection_gone`]: lapin can report the broker's `connection.close` on a channel a
    /// moment before the connection's own state says so).
    pub(crate) fn lost_with(&self, generation: u64, e: &TransportError) -> bool {
        self.suspect(generation) || connection_gone(e)
    }

    /// Wait until the link is on a connection newer than `generation` (or finished).
    pub(crate) async fn newer_than(&self, generation: u64) {
        let mut state = self.state.subscribe();
        let _ = state
            .wait_for(|s| match s {
                State::Up {
                    generation: current,
                    ..
                } => *current > generation,
                State::Down => false,
                State::Closed | State::GaveUp(_) => true,
            })
            .await;
    }

    /// Close for good: no reconnection after this.
    pub(crate) async fn close(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        let previous = self.set(State::Closed);
        self.suspect.notify_one();
        if let State::Up { connection, .. } = previous
            && let Err(e) = connection.close(200, "bye".into()).await
        {
            tracing::debug!(error = %describe(&e), "closing the connection");
        }
    }

    pub(crate) fn record_exchange(&self, spec: &ExchangeSpec) {
        let mut declared = self.declared.lock().expect("declared lock");
        if !declared.exchanges.contains(spec) {
            declared.exchanges.push(spec.clone());
        }
    }

    pub(crate) fn record_queue(&self, spec: &QueueSpec) {
        let mut declared = self.declared.lock().expect("declared lock");
        if !declared.queues.iter().any(|q| q.name == spec.name) {
            declared.queues.push(spec.clone());
        }
    }

    pub(crate) fn record_binding(&self, queue: &str, exchange: &str, key: &str) {
        let binding = (queue.to_owned(), exchange.to_owned(), key.to_owned());
        let mut declared = self.declared.lock().expect("declared lock");
        if !declared.bindings.contains(&binding) {
            declared.bindings.push(binding);
        }
    }

    pub(crate) fn forget_queue(&self, queue: &str) {
        let mut declared = self.declared.lock().expect("declared lock");
        declared.queues.retain(|q| q.name != queue);
        declared.bindings.retain(|(q, _, _)| q != queue);
        declared.replaced.remove(queue);
    }

    /// The name on the broker of the queue declared as `queue`: the same, unless its home
    /// node went and the link declared a replacement (see `redeclare`).
    pub(crate) fn on_broker(&self, queue: &str) -> String {
        let declared = self.declared.lock().expect("declared lock");
        declared.on_broker(queue).to_owned()
    }

    /// A publish channel of the current connection, with its generation: one of a small pool,
    /// made for each new connection and replaced when the broker closed it (a publish to a
    /// missing exchange closes its channel with `404`).
    pub(crate) async fn publisher(&self) -> Result<(Arc<Channel>, u64), TransportError> {
        loop {
            match self.try_publisher().await {
                Err((e, generation)) => {
                    if !self.lost_with(generation, &e) {
                        return Err(e);
                    }
                    self.newer_than(generation).await;
                }
                Ok(found) => return Ok(found),
            }
        }
    }

    /// Take `channel` out of the publish pool and close it: the broker refused a message on
    /// it. A quorum queue's client state lives in the channel, and a channel that met a queue
    /// during its leader election can go on refusing every message to it long after a new
    /// leader took over (seen on RabbitMQ 3.10 after a node was killed); the next publish
    /// opens a fresh one.
    pub(crate) fn retire_publisher(&self, channel: &Arc<Channel>) {
        let mut pool = self.publishers.lock().expect("publishers lock");
        let before = pool.1.len();
        pool.1.retain(|c| !Arc::ptr_eq(c, channel));
        if pool.1.len() < before {
            let channel = channel.clone();
            tokio::spawn(async move {
                let _ = channel.close(200, "refused a message".into()).await;
            });
        }
    }

    async fn try_publisher(&self) -> Result<(Arc<Channel>, u64), (TransportError, u64)> {
        let (connection, generation) = self.connection().await.map_err(|e| (e, 0))?;
        let slot = self.next_publisher.fetch_add(1, Ordering::Relaxed) % PUBLISH_CHANNELS;
        {
            let pool = self.publishers.lock().expect("publishers lock");
            if pool.0 == generation
                && let Some(channel) = pool.1.get(slot)
                && channel.status().connected()
            {
                return Ok((channel.clone(), generation));
            }
        }
        let fresh = Arc::new(
            confirm_channel(&connection)
                .await
                .map_err(|e| (e, generation))?,
        );
        let mut pool = self.publishers.lock().expect("publishers lock");
        if pool.0 != generation {
            *pool = (generation, Vec::with_capacity(PUBLISH_CHANNELS));
        }
        if pool.1.len() <= slot {
            pool.1.push(fresh.clone());
        } else {
            pool.1[slot] = fresh.clone();
        }
        Ok((fresh, generation))
    }
}

pub(crate) async fn confirm_channel(connection: &Connection) -> Result<Channel, TransportError> {
    let channel = connection.create_channel().await.map_err(|e| closed(&e))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| closed(&e))?;
    Ok(channel)
}

/// The supervisor: waits for the connection of `generation` to fail, then reconnects, until
/// the link is closed, dropped or gives up.
async fn supervise(
    link: Weak<Link>,
    mut connection: Arc<Connection>,
    mut generation: u64,
    mut on: usize,
) {
    loop {
        let reason = match link.upgrade() {
            Some(l) => lost(&l, &connection).await,
            None => return,
        };
        let Some(link) = link.upgrade() else { return };
        if link.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let since = Instant::now();
        link.set(State::Down);
        let brokers: Vec<String> = link.brokers.iter().map(ToString::to_string).collect();
        tracing::warn!(broker = %brokers.join(";"), %reason, "broker connection lost; reconnecting");
        match reconnect(&link, on).await {
            Ok((fresh, broker, index)) => {
                on = index;
                generation += 1;
                link.reconnections.fetch_add(1, Ordering::Relaxed);
                connection = fresh;
                link.set(State::Up {
                    connection: connection.clone(),
                    generation,
                });
                tracing::info!(%broker, after = ?since.elapsed(), "broker connection recovered");
            }
            Err(why) => {
                tracing::error!(broker = %brokers.join(";"), %why, "gave up reconnecting");
                link.set(State::GaveUp(why));
                return;
            }
        }
    }
}

/// Wait until `connection` fails; returns why.
async fn lost(link: &Link, connection: &Connection) -> String {
    let mut events: Pin<Box<dyn Stream<Item = lapin::Event> + Send>> =
        Box::pin(connection.events_listener());
    loop {
        if link.shutdown.load(Ordering::SeqCst) {
            return "closed".into();
        }
        if !connection.status().connected() {
            return "the connection is no longer open".into();
        }
        let event = std::future::poll_fn(|cx| events.as_mut().poll_next(cx));
        tokio::select! {
            event = event => match event {
                // Channel errors (a 404 on one channel) come here too: only a connection
                // that is no longer open is lost.
                Some(lapin::Event::Error(e)) if !connection.status().connected() => {
                    return describe(&e);
                }
                Some(lapin::Event::Error(e)) => {
                    tracing::debug!(error = %describe(&e), "a channel failed; the connection stands");
                }
                Some(lapin::Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(%reason, "the broker blocks publishing");
                    link.blocked.send_replace(Some(reason));
                }
                Some(lapin::Event::ConnectionUnblocked) => {
                    tracing::info!("the broker unblocked publishing");
                    link.blocked.send_replace(None);
                }
                Some(_) => {}
                None => return "the connection's event stream ended".into(),
            },
            () = link.suspect.notified() => {}
            // The status may change after the event that announced it: look again soon.
            () = tokio::time::sleep(STATUS_CHECK) => {}
        }
    }
}

/// Rounds of attempts, each trying every broker address once, with backoff between rounds.
/// Each round starts with the broker after the one the connection was `lost_on` and tries
/// that one last, as kombu's round-robin failover does: a node that went silent costs a
/// connection attempt's timeout only when no other node answers. A new connection is
/// returned, with its broker's index, only once everything declared before is declared on it.
async fn reconnect(
    link: &Link,
    lost_on: usize,
) -> Result<(Arc<Connection>, BrokerUri, usize), String> {
    let mut round = 0u32;
    loop {
        round += 1;
        if round > 1 {
            tokio::time::sleep(link.policy.delay(round - 1)).await;
        }
        if link.shutdown.load(Ordering::SeqCst) {
            return Err("the transport was closed".into());
        }
        let mut last = String::new();
        let count = link.brokers.len();
        for index in (1..=count).map(|k| (lost_on + k) % count) {
            let broker = &link.brokers[index];
            match open(broker).await {
                Ok(connection) => {
                    match tokio::time::timeout(STEP_TIMEOUT, redeclare(link, &connection)).await {
                        Ok(Ok(())) => return Ok((Arc::new(connection), broker.clone(), index)),
                        Ok(Err(e)) => last = format!("{broker}: re-declaring: {e}"),
                        Err(_) => last = format!("{broker}: re-declaring took too long"),
                    }
                    // Not used: close it rather than leave it to the broker's heartbeat.
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(
                            STEP_TIMEOUT,
                            connection.close(200, "retrying".into()),
                        )
                        .await;
                    });
                }
                Err(e) => last = e.to_string(),
            }
        }
        tracing::debug!(round, %last, "reconnection attempt failed");
        if link.policy.max_attempts.is_some_and(|max| round >= max) {
            return Err(format!("no broker after {round} rounds: {last}"));
        }
    }
}

/// Declare on `connection` everything declared on the link so far.
///
/// A classic queue lives on one node, its home; while that node is down or cut off, declaring
/// the queue anywhere else is refused (`404`, "home node … is down or inaccessible"). For a
/// queue that holds messages for others, waiting for that node is all there is to do (the
/// reconnection rounds go on). A queue of this process's own that the broker may delete by
/// itself ([`topology::replaceable`]: a reply queue) is declared again under a fresh name,
/// with the same bindings, and its consumers move to it. A reply queue keeps its routing
/// key, so calls made from then on are answered; replies already on their way to the old
/// queue are lost, and their calls time out.
async fn redeclare(link: &Link, connection: &Connection) -> Result<(), String> {
    let (exchanges, queues, bindings) = {
        let declared = link.declared.lock().expect("declared lock");
        (
            declared.exchanges.clone(),
            declared.queues.clone(),
            declared.bindings.clone(),
        )
    };
    let open = || async { connection.create_channel().await.map_err(|e| describe(&e)) };
    let mut channel = open().await?;
    let fail = |e: lapin::Error| describe(&e);
    for spec in &exchanges {
        declare_exchange_on(&channel, spec).await.map_err(fail)?;
    }
    for spec in &queues {
        let current = QueueSpec {
            name: link.on_broker(&spec.name),
            ..spec.clone()
        };
        match declare_queue_on(&channel, &current).await {
            Ok(()) => {}
            Err(e) if reply_code(&e) == Some(NOT_FOUND) && topology::replaceable(spec) => {
                // The refusal closed the channel.
                channel = open().await?;
                let replacement = QueueSpec {
                    name: format!(
                        "{}-{}",
                        spec.name,
                        &uuid::Uuid::new_v4().simple().to_string()[..8]
                    ),
                    ..spec.clone()
                };
                declare_queue_on(&channel, &replacement)
                    .await
                    .map_err(fail)?;
                tracing::warn!(
                    queue = %current.name,
                    replacement = %replacement.name,
                    refusal = %describe(&e),
                    "declared a replacement for a queue whose node is gone"
                );
                let mut declared = link.declared.lock().expect("declared lock");
                declared
                    .replaced
                    .insert(spec.name.clone(), replacement.name);
            }
            Err(e) => return Err(fail(e)),
        }
    }
    for (queue, exchange, key) in &bindings {
        bind_on(&channel, &link.on_broker(queue), exchange, key)
            .await
            .map_err(fail)?;
    }
    // Closing is a courtesy: do not wait on it.
    tokio::spawn(async move {
        let _ = channel.close(200, "declared".into()).await;
    });
    Ok(())
}

/// Run `op` on the current connection; when it fails because that connection is gone, wait
/// for the next one and run it again.
pub(crate) async fn on_connection<T, F, Fut>(link: &Link, mut op: F) -> Result<T, TransportError>
where
    F: FnMut(Arc<Connection>) -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    loop {
        let (connection, generation) = link.connection().await?;
        match op(connection).await {
            Err(e @ TransportError::Closed { .. }) if link.lost_with(generation, &e) => {
                link.newer_than(generation).await;
            }
            other => return other,
        }
    }
}

/// `exchange.declare` of `spec` on `channel`: what the transport declares, and what the link
/// declares again on a new connection.
pub(crate) async fn declare_exchange_on(
    channel: &Channel,
    spec: &ExchangeSpec,
) -> lapin::Result<()> {
    let kind = match spec.kind {
        contracts_core::transport::ExchangeKind::Topic => lapin::ExchangeKind::Topic,
    };
    let options = ExchangeDeclareOptions {
        durable: spec.durable,
        auto_delete: spec.auto_delete,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            spec.name.as_str().into(),
            kind,
            options,
            FieldTable::default(),
        )
        .await
}

/// `queue.declare` of `spec` on `channel`.
pub(crate) async fn declare_queue_on(channel: &Channel, spec: &QueueSpec) -> lapin::Result<()> {
    let options = QueueDeclareOptions {
        durable: spec.durable,
        exclusive: spec.exclusive,
        auto_delete: spec.auto_delete,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(
            spec.name.as_str().into(),
            options,
            to_table(&spec.arguments),
        )
        .await
        .map(drop)
}

/// `queue.bind` of `queue` to `exchange` by `key` on `channel`.
pub(crate) async fn bind_on(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> lapin::Result<()> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}
