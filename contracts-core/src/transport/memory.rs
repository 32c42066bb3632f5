//! The embedded in-memory broker: AMQP topic routing, durable queues shared by competing
//! consumers, prefetch, and requeue of unsettled deliveries, all inside one process.

use std::collections::HashMap as StdHashMap;

/// The broker's maps are keyed by names its users chose; a fast hasher is fine for a test
/// and single-process broker.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::topic::{is_wildcard, topic_matches};
use super::{
    Acker, Acknowledge, BoxFuture, Consumer, Delivery, DeliveryStream, ExchangeSpec, Message,
    QueueSpec, Transport, TransportError,
};

/// An in-process message broker implementing [`Transport`].
///
/// It behaves like RabbitMQ where the runtime can tell: topic exchanges, the default exchange
/// (`""`, routing straight to a queue by name), redeclarations that must match, mandatory
/// publishes that fail when unroutable, competing consumers with prefetch, and redelivery of
/// messages whose delivery is rejected with requeue or dropped unsettled.
///
/// Cloning is cheap: clones share one broker.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    exchanges: RwLock<HashMap<String, Exchange>>,
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    /// `""`, the default exchange's name, as deliveries carry it.
    default_exchange: Arc<str>,
}

struct Exchange {
    spec: ExchangeSpec,
    /// The name every delivery through it carries, shared rather than copied per message.
    name: Arc<str>,
    /// Bindings without wildcards, looked up by routing key: the common case (replies, events).
    /// Each key is shared with the deliveries routed by it.
    exact: HashMap<Arc<str>, Vec<Arc<Queue>>>,
    wildcard: Vec<(String, Arc<Queue>)>,
}

struct Queue {
    spec: QueueSpec,
    /// `x-message-ttl` with a dead-letter target: messages wait out the TTL, then move on.
    delay: Option<Delay>,
    tx: async_channel::Sender<Queued>,
    rx: async_channel::Receiver<Queued>,
    consumers: AtomicUsize,
}

/// A queue's `x-message-ttl` and `x-dead-letter-*` arguments.
struct Delay {
    ttl: Duration,
    exchange: String,
    routing_key: Option<String>,
}

impl Delay {
    fn of(spec: &QueueSpec) -> Option<Self> {
        let args = &spec.arguments;
        Some(Self {
            ttl: Duration::from_millis(args.get("x-message-ttl")?.as_u64()?),
            exchange: args.get("x-dead-letter-exchange")?.as_str()?.to_owned(),
            routing_key: args
                .get("x-dead-letter-routing-key")
                .and_then(|k| k.as_str())
                .map(str::to_owned),
        })
    }
}

struct Queued {
    exchange: Arc<str>,
    routing_key: Arc<str>,
    message: Arc<Message>,
    redelivered: bool,
    /// From the `expiration` property: past this instant the message is dropped, not
    /// delivered, as RabbitMQ does.
    expires_at: Option<Instant>,
}

impl Queued {
    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= Instant::now())
    }

    /// Hand the message out; the acker keeps it (and the consumer's prefetch permit, if
    /// any) until it is settled.
    fn deliver(self, queue: &Arc<Queue>, permit: Option<OwnedSemaphorePermit>) -> Delivery {
        Delivery {
            exchange: self.exchange.clone(),
            routing_key: self.routing_key.clone(),
            redelivered: self.redelivered,
            message: self.message.clone(),
            acker: Acker::new(MemoryAcker {
                queue: queue.clone(),
                item: Some(self),
                _permit: permit,
            }),
        }
    }
}

impl Queue {
    fn push(&self, item: Queued) {
        // Unbounded channel: a send fails only once the queue was deleted, when dropping the
        // message is what RabbitMQ does too.
        let _ = self.tx.try_send(item);
    }
}

impl MemoryBroker {
    /// A new, empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new broker behind a [`SharedTransport`](super::SharedTransport).
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::new())
    }

    /// Messages ready in `queue` (not counting delivered, unsettled ones), or `None` if the
    /// queue does not exist.
    pub fn queue_depth(&self, queue: &str) -> Option<usize> {
        let queues = self.state.queues.lock().expect("broker lock poisoned");
        queues.get(queue).map(|q| q.rx.len())
    }

    /// Number of active consumers on `queue`, or `None` if the queue does not exist.
    pub fn consumer_count(&self, queue: &str) -> Option<usize> {
        let queues = self.state.queues.lock().expect("broker lock poisoned");
        queues
            .get(queue)
            .map(|q| q.consumers.load(Ordering::SeqCst))
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>, TransportError> {
        let queues = self.state.queues.lock().expect("broker lock poisoned");
        queues
            .get(name)
            .cloned()
            .ok_or_else(|| TransportError::NoSuchQueue(name.to_owned()))
    }

    fn route(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
        mandatory: bool,
    ) -> Result<(), TransportError> {
        let (exchange_name, bound_key, targets): (Arc<str>, _, Vec<Arc<Queue>>) =
            if exchange.is_empty() {
                (
                    self.state.default_exchange.clone(),
                    None,
                    self.queue(routing_key).into_iter().collect(),
                )
            } else {
                let exchanges = self.state.exchanges.read().expect("broker lock poisoned");
                let ex = exchanges
                    .get(exchange)
                    .ok_or_else(|| TransportError::NoSuchExchange(exchange.to_owned()))?;
                let (bound_key, mut targets) = match ex.exact.get_key_value(routing_key) {
                    Some((key, queues)) => (Some(key.clone()), queues.clone()),
                    None => (None, Vec::new()),
                };
                for (pattern, queue) in &ex.wildcard {
                    if topic_matches(pattern, routing_key)
                        && !targets.iter().any(|q| Arc::ptr_eq(q, queue))
                    {
                        targets.push(queue.clone());
                    }
                }
                (ex.name.clone(), bound_key, targets)
            };
        if targets.is_empty() {
            return if mandatory {
                Err(TransportError::Unroutable {
                    exchange: exchange.to_owned(),
                    routing_key: routing_key.to_owned(),
                })
            } else {
                Ok(())
            };
        }
        let exchange = exchange_name;
        let routing_key: Arc<str> = bound_key.unwrap_or_else(|| routing_key.into());
        let expires_at = message
            .properties
            .expiration
            .as_deref()
            .and_then(|ms| ms.parse().ok())
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let message = Arc::new(message);
        for queue in targets {
            // A TTL'd queue with a dead-letter target (a retry queue) holds each message for
            // its TTL, then routes it on, as RabbitMQ does; nobody consumes such queues.
            if let (Some(delay), Ok(runtime)) =
                (&queue.delay, tokio::runtime::Handle::try_current())
            {
                let broker = self.clone();
                let (exchange, ttl) = (delay.exchange.clone(), delay.ttl);
                let key = delay
                    .routing_key
                    .clone()
                    .unwrap_or_else(|| routing_key.to_string());
                let message = Message::clone(&message);
                runtime.spawn(async move {
                    tokio::time::sleep(ttl).await;
                    if let Err(e) = broker.route(&exchange, &key, message, false) {
                        tracing::warn!(error = %crate::error::Report(&e), "in-memory dead-lettering failed");
                    }
                });
                continue;
            }
            queue.push(Queued {
                exchange: exchange.clone(),
                routing_key: routing_key.clone(),
                message: message.clone(),
                redelivered: false,
                expires_at,
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker").finish_non_exhaustive()
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

/// What an operation that succeeded at once returns: `Ok(())` from a future of no size,
/// which boxing does not allocate for (publishes and acks are most of the broker's work).
fn done<'a>(result: Result<(), TransportError>) -> BoxFuture<'a, Result<(), TransportError>> {
    struct Done;
    impl Future for Done {
        type Output = Result<(), TransportError>;
        fn poll(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Self::Output> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    match result {
        Ok(()) => Box::pin(Done),
        Err(e) => ready(Err(e)),
    }
}

impl Transport for MemoryBroker {
    fn declare_exchange<'a>(
        &'a self,
        spec: &'a ExchangeSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        let mut exchanges = self.state.exchanges.write().expect("broker lock poisoned");
        let result = match exchanges.get(&spec.name) {
            Some(existing) if existing.spec != *spec => Err(TransportError::PreconditionFailed {
                name: spec.name.clone(),
                detail: format!("declared as {:?}, exists as {:?}", spec, existing.spec),
            }),
            Some(_) => Ok(()),
            None => {
                exchanges.insert(
                    spec.name.clone(),
                    Exchange {
                        spec: spec.clone(),
                        name: spec.name.as_str().into(),
                        exact: HashMap::default(),
                        wildcard: Vec::new(),
                    },
                );
                Ok(())
            }
        };
        ready(result)
    }

    fn declare_queue<'a>(
        &'a self,
        spec: &'a QueueSpec,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        let mut queues = self.state.queues.lock().expect("broker lock poisoned");
        let result = match queues.get(&spec.name) {
            Some(existing) if existing.spec != *spec => Err(TransportError::PreconditionFailed {
                name: spec.name.clone(),
                detail: format!("declared as {:?}, exists as {:?}", spec, existing.spec),
            }),
            Some(_) => Ok(()),
            None => {
                let (tx, rx) = async_channel::unbounded();
                queues.insert(
                    spec.name.clone(),
                    Arc::new(Queue {
                        delay: Delay::of(spec),
                        spec: spec.clone(),
                        tx,
                        rx,
                        consumers: AtomicUsize::new(0),
                    }),
                );
                Ok(())
            }
        };
        ready(result)
    }

    fn bind<'a>(
        &'a self,
        queue: &'a str,
        exchange: &'a str,
        routing_key: &'a str,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        let result = self.queue(queue).and_then(|queue| {
            let mut exchanges = self.state.exchanges.write().expect("broker lock poisoned");
            let ex = exchanges
                .get_mut(exchange)
                .ok_or_else(|| TransportError::NoSuchExchange(exchange.to_owned()))?;
            if is_wildcard(routing_key) {
                if !ex
                    .wildcard
                    .iter()
                    .any(|(p, q)| p == routing_key && Arc::ptr_eq(q, &queue))
                {
                    ex.wildcard.push((routing_key.to_owned(), queue));
                }
            } else {
                let bound = ex.exact.entry(routing_key.into()).or_default();
                if !bound.iter().any(|q| Arc::ptr_eq(q, &queue)) {
                    bound.push(queue);
                }
            }
            Ok(())
        });
        ready(result)
    }

    fn delete_queue<'a>(&'a self, queue: &'a str) -> BoxFuture<'a, Result<(), TransportError>> {
        let removed = self
            .state
            .queues
            .lock()
            .expect("broker lock poisoned")
            .remove(queue);
        let result = match removed {
            None => Err(TransportError::NoSuchQueue(queue.to_owned())),
            Some(removed) => {
                let mut exchanges = self.state.exchanges.write().expect("broker lock poisoned");
                for ex in exchanges.values_mut() {
                    ex.wildcard.retain(|(_, q)| !Arc::ptr_eq(q, &removed));
                    for bound in ex.exact.values_mut() {
                        bound.retain(|q| !Arc::ptr_eq(q, &removed));
                    }
                    ex.exact.retain(|_, bound| !bound.is_empty());
                }
                removed.tx.close();
                Ok(())
            }
        };
        ready(result)
    }

    fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        message: Message,
        mandatory: bool,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        done(self.route(exchange, routing_key, message, mandatory))
    }

    fn get<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<(Delivery, u32)>, TransportError>> {
        let result = self.queue(queue).map(|queue| {
            let item = loop {
                match queue.rx.try_recv() {
                    Ok(item) if item.expired() => {}
                    Ok(item) => break Some(item),
                    Err(_) => break None,
                }
            }?;
            let remaining = u32::try_from(queue.rx.len()).unwrap_or(u32::MAX);
            Some((item.deliver(&queue, None), remaining))
        });
        ready(result)
    }

    fn message_count<'a>(
        &'a self,
        queue: &'a str,
    ) -> BoxFuture<'a, Result<Option<u64>, TransportError>> {
        ready(self.queue(queue).map(|queue| Some(queue.rx.len() as u64)))
    }

    fn consume<'a>(
        &'a self,
        queue: &'a str,
        prefetch: u16,
    ) -> BoxFuture<'a, Result<Consumer, TransportError>> {
        let result = self.queue(queue).map(|queue| {
            queue.consumers.fetch_add(1, Ordering::SeqCst);
            Consumer::new(MemoryConsumer {
                permits: (prefetch > 0).then(|| Arc::new(Semaphore::new(prefetch.into()))),
                queue,
            })
        });
        ready(result)
    }
}

struct MemoryConsumer {
    queue: Arc<Queue>,
    permits: Option<Arc<Semaphore>>,
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        self.queue.consumers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DeliveryStream for MemoryConsumer {
    fn next(&mut self) -> BoxFuture<'_, Option<Delivery>> {
        Box::pin(async move {
            let permit = match &self.permits {
                Some(permits) => Some(permits.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let item = loop {
                let item = self.queue.rx.recv().await.ok()?;
                if !item.expired() {
                    break item;
                }
            };
            Some(item.deliver(&self.queue, permit))
        })
    }

    fn cancel(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        ready(())
    }
}

struct MemoryAcker {
    queue: Arc<Queue>,
    /// Kept until settled so that a reject or a drop can requeue it.
    item: Option<Queued>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl MemoryAcker {
    fn requeue(&mut self) {
        if let Some(mut item) = self.item.take() {
            item.redelivered = true;
            self.queue.push(item);
        }
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        self.requeue();
    }
}

impl Acknowledge for MemoryAcker {
    fn ack(mut self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>> {
        self.item = None;
        done(Ok(()))
    }

    fn reject(
        mut self: Box<Self>,
        requeue: bool,
    ) -> BoxFuture<'static, Result<(), TransportError>> {
        if requeue {
            self.requeue();
        } else {
            self.item = None;
        }
        done(Ok(()))
    }
}
