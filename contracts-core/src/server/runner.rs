//! The runner: services and event handlers consumed from their queues, each service's work
//! bounded by its worker pool, stopped gracefully.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::events::dedupe::{DedupeStore, DedupeWindow};
use crate::events::retry::RetryPolicy;
use crate::events::{EventHandler, HandlerDefaults, Settled};
use crate::observe::{self, ConsumerUp, HandleOutcome, WorkerPool};
use crate::server::timer::Timer;
use crate::transport::{Consumer, Delivery, SharedTransport, TransportError};
use crate::validate::ValidationMode;
use crate::wire::context;
use crate::wire::limits::Limits;
use crate::wire::topology;
use crate::wire::topology::RPC_EXCHANGE;

use super::Dispatch;
use super::responder::{Responder, RpcWorker};

/// Runs services and event handlers: consumes their queues, bounds concurrency, and stops
/// gracefully.
///
/// ```no_run
/// # use contracts_core::{ServiceRunner, MemoryBroker};
/// # async fn demo(server: impl contracts_core::Dispatch) -> Result<(), contracts_core::TransportError> {
/// let broker = MemoryBroker::shared();
/// let running = ServiceRunner::new(broker).max_workers(10).serve(server).start().await?;
/// // ...
/// running.stop().await;
/// # Ok(()) }
/// ```
pub struct ServiceRunner {
    transport: SharedTransport,
    max_workers: usize,
    validation: ValidationMode,
    limits: Limits,
    prefetch: Option<u16>,
    retry: Option<RetryPolicy>,
    dedupe: Option<(Arc<dyn DedupeStore>, DedupeWindow)>,
    rpc_exchange: Arc<str>,
    parent_calls_tracked: usize,
    services: Vec<Arc<dyn Dispatch>>,
    handlers: Vec<EventHandler>,
    timers: Vec<Timer>,
}

impl std::fmt::Debug for ServiceRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceRunner")
            .field("max_workers", &self.max_workers)
            .field("validation", &self.validation)
            .field(
                "services",
                &self
                    .services
                    .iter()
                    .map(|s| s.compiled().name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Nameko's default `max_workers`.
pub const DEFAULT_MAX_WORKERS: usize = 10;

impl ServiceRunner {
    /// A runner on `transport` with Nameko's defaults: 10 workers per service, validation
    /// both ways.
    pub fn new(transport: SharedTransport) -> Self {
        Self {
            transport,
            max_workers: DEFAULT_MAX_WORKERS,
            validation: ValidationMode::default(),
            limits: Limits::default(),
            prefetch: None,
            retry: None,
            dedupe: None,
            rpc_exchange: RPC_EXCHANGE.into(),
            parent_calls_tracked: context::PARENT_CALLS_TRACKED,
            services: Vec::new(),
            handlers: Vec::new(),
            timers: Vec::new(),
        }
    }

    /// The transport services will be served on.
    pub fn transport(&self) -> &SharedTransport {
        &self.transport
    }

    /// At most `n` calls and events handled at once per service (and its prefetch).
    #[must_use]
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n.max(1);
        self
    }

    /// What to validate.
    #[must_use]
    pub fn validation(mut self, mode: ValidationMode) -> Self {
        self.validation = mode;
        self
    }

    /// Refuse request and event bodies beyond `limits` (default: [`Limits::default`]):
    /// requests get a `MalformedRequest` reply, events are rejected without requeue.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Let each consumer hold `n` unacknowledged deliveries (Nameko 3's `PREFETCH_COUNT`);
    /// by default, `max_workers`, as in Nameko 2. Deliveries beyond the pool wait for a worker.
    #[must_use]
    pub fn prefetch(mut self, n: u16) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// Retry failed events as `policy` says in every handler that sets no policy of its own
    /// (`#[handles]` methods among them).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Deduplicate events with `store` in every handler that has no store of its own
    /// (`#[handles]` methods among them), for the default [`DedupeWindow`].
    #[must_use]
    pub fn dedupe(mut self, store: impl DedupeStore) -> Self {
        self.dedupe = Some((Arc::new(store), DedupeWindow::default()));
        self
    }

    /// Serve RPC on the exchange `name` instead of `nameko-rpc` (Nameko's `rpc_exchange`).
    #[must_use]
    pub fn rpc_exchange(mut self, name: &str) -> Self {
        self.rpc_exchange = name.into();
        self
    }

    /// Keep `n` parent call ids in each worker's `call_id_stack` (Nameko's
    /// `parent_calls_tracked`, default 10).
    #[must_use]
    pub fn parent_calls_tracked(mut self, n: usize) -> Self {
        self.parent_calls_tracked = n;
        self
    }

    /// Host a service: its RPC methods and its event handlers.
    #[must_use]
    pub fn serve(mut self, service: impl Dispatch) -> Self {
        let service = Arc::new(service);
        self.handlers.extend(service.clone().handlers());
        self.services.push(service);
        self
    }

    /// Host an event handler.
    #[must_use]
    pub fn subscribe(mut self, handler: EventHandler) -> Self {
        self.handlers.push(handler);
        self
    }

    /// Run `timer` while the services run, on its service's worker pool; stopping the
    /// services lets a run in progress finish.
    #[must_use]
    pub fn timer(mut self, timer: Timer) -> Self {
        self.timers.push(timer);
        self
    }

    /// Declare every queue, start consuming, and start the timers.
    pub async fn start(self) -> Result<RunningServices, TransportError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let prefetch = self
            .prefetch
            .unwrap_or_else(|| u16::try_from(self.max_workers).unwrap_or(u16::MAX));
        let mut launch = Launch {
            transport: self.transport.clone(),
            stop: stop_rx,
            tasks: JoinSet::new(),
            pools: HashMap::new(),
            settled: HashMap::new(),
            max_workers: self.max_workers,
            prefetch,
        };
        // Like Nameko, only a service with RPC methods gets an RPC queue: one that only
        // handles events consumes its handler queues alone.
        let rpc_services: Vec<_> = self
            .services
            .iter()
            .filter(|s| !s.compiled().contract().methods.is_empty())
            .cloned()
            .collect();
        if !rpc_services.is_empty() {
            self.transport
                .declare_exchange(&topology::rpc_exchange_named(&self.rpc_exchange))
                .await?;
        }
        for service in rpc_services {
            let worker = RpcWorker {
                responder: Responder {
                    service,
                    validation: self.validation,
                    limits: self.limits,
                    parent_calls_tracked: self.parent_calls_tracked,
                },
                transport: self.transport.clone(),
                exchange: self.rpc_exchange.clone(),
            };
            launch.serve(worker).await?;
        }
        let defaults = HandlerDefaults {
            validation: self.validation,
            limits: self.limits,
            parent_calls_tracked: self.parent_calls_tracked,
            retry: self.retry,
            dedupe: self.dedupe,
        };
        for handler in self.handlers {
            launch.subscribe(handler.configured(&defaults)).await?;
        }
        for timer in self.timers {
            let pool = launch.pool(timer.service());
            launch.tasks.spawn(timer.run(pool, launch.stop.clone()));
        }
        Ok(RunningServices {
            stop: stop_tx,
            tasks: launch.tasks,
            settled: launch.settled,
        })
    }
}

/// Services being served. Call [`RunningServices::stop`] for a graceful stop that returns once
/// every call in flight has replied and acked. Dropping this stops consuming at once and waits
/// for nothing: calls already running still finish, in the background.
#[derive(Debug)]
#[must_use = "the services stop consuming when this is dropped; keep it and call `.stop().await`"]
pub struct RunningServices {
    stop: watch::Sender<bool>,
    tasks: JoinSet<String>,
    /// Each event handler's settled deliveries, by service and method.
    settled: HashMap<(String, String), watch::Sender<Settled>>,
}

impl RunningServices {
    /// Graceful stop: stop taking new messages, let in-flight calls finish, reply and ack,
    /// then return.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }

    /// A waiter for the deliveries `service`'s event handler `method` settles from now on
    /// (Nameko's `entrypoint_waiter`), or `None` if no such handler runs here. Make it before
    /// whatever publishes the event, then [`Waiter::wait`]:
    ///
    /// ```
    /// # use contracts_core::prelude::*;
    /// # use contracts_core::{MemoryBroker, ServiceRunner};
    /// # use contracts_core::observe::HandleOutcome;
    /// #[service(name = "shop")]
    /// trait Shop {
    ///     #[event]
    ///     fn sold(item: String);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let broker = MemoryBroker::shared();
    /// let record = |_item: String| async { Ok::<(), std::convert::Infallible>(()) };
    /// let running = ServiceRunner::new(broker.clone())
    ///     .subscribe(ShopContract::sold().handler("ledger", "on_sold", record))
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let mut on_sold = running.waiter("ledger", "on_sold").expect("a handler");
    /// ShopPublisher::new(broker).sold(&"tea".into()).await.unwrap();
    /// assert_eq!(on_sold.wait().await, Some(HandleOutcome::Handled));
    /// running.stop().await;
    /// # }
    /// ```
    pub fn waiter(&self, service: &str, method: &str) -> Option<Waiter> {
        let settled = self
            .settled
            .get(&(service.to_owned(), method.to_owned()))?
            .subscribe();
        let seen = settled.borrow().0;
        Some(Waiter { settled, seen })
    }

    /// Resolves with the queue's name when one of the consumers ends by itself: the broker
    /// connection was lost, or the queue was deleted or its consumer cancelled. Until then it
    /// stays pending, so a process can wait on it next to its shutdown signal and exit (to be
    /// restarted) instead of running on without consuming. Calls in flight on the other
    /// consumers are unaffected; [`RunningServices::stop`] still stops them gracefully.
    pub async fn ended(&mut self) -> String {
        match self.tasks.join_next().await {
            Some(Ok(queue)) => queue,
            Some(Err(e)) => format!("a consumer task that failed: {e}"),
            None => std::future::pending().await,
        }
    }
}

/// Waits for an event handler to settle deliveries: see [`RunningServices::waiter`].
#[derive(Debug)]
pub struct Waiter {
    settled: watch::Receiver<Settled>,
    seen: u64,
}

impl Waiter {
    /// Wait until the handler has settled a delivery since the last wait (or, the first
    /// time, since the waiter was made), and say how the latest ended: handled, retried,
    /// dead-lettered, … `None` once the handler is gone (the services stopped).
    pub async fn wait(&mut self) -> Option<HandleOutcome> {
        let seen = self.seen;
        let (count, last) = *self
            .settled
            .wait_for(|(count, _)| *count > seen)
            .await
            .ok()?;
        self.seen = count;
        last
    }
}

/// Starting consumers for [`ServiceRunner::start`]: each on its queue, with the pool of the
/// service it belongs to, all stopped by one signal.
struct Launch {
    transport: SharedTransport,
    stop: watch::Receiver<bool>,
    tasks: JoinSet<String>,
    /// One worker pool per service name, shared by its RPC queue and its handlers.
    pools: HashMap<String, Arc<Semaphore>>,
    settled: HashMap<(String, String), watch::Sender<Settled>>,
    max_workers: usize,
    prefetch: u16,
}

impl Launch {
    fn pool(&mut self, service: &str) -> Arc<Semaphore> {
        let max_workers = self.max_workers;
        self.pools
            .entry(service.to_owned())
            .or_insert_with(|| {
                let permits = Arc::new(Semaphore::new(max_workers));
                if let Some(observer) = observe::current() {
                    observer.workers(&WorkerPool::new(service, max_workers, permits.clone()));
                }
                permits
            })
            .clone()
    }

    fn workers(&self) -> u32 {
        u32::try_from(self.max_workers).unwrap_or(u32::MAX)
    }

    /// Declare and bind a service's RPC queue, then consume it.
    async fn serve(&mut self, worker: RpcWorker) -> Result<(), TransportError> {
        let name = worker.responder.service.compiled().name();
        let queue_type = self.transport.queue_type();
        let queue = topology::rpc_queue(name, queue_type);
        // A quorum RPC queue dead-letters what it cannot hand out: declare where to first.
        if queue_type == topology::QueueType::Quorum {
            let dead = topology::dead_letter_queue(&queue.name, queue_type);
            self.transport.declare_queue(&dead).await?;
        }
        self.transport.declare_queue(&queue).await?;
        self.transport
            .bind(&queue.name, &worker.exchange, &topology::rpc_binding(name))
            .await?;
        let consumer = self.transport.consume(&queue.name, self.prefetch).await?;
        let up = observe::consuming(&queue.name, name, &self.transport);
        let pool = self.pool(name);
        self.tasks.spawn(consume(
            queue.name,
            up,
            consumer,
            pool,
            self.workers(),
            self.stop.clone(),
            move |d| {
                let worker = worker.clone();
                async move { worker.handle(d).await }
            },
        ));
        Ok(())
    }

    /// Declare an event handler's queues, then consume its handler queue.
    async fn subscribe(&mut self, handler: EventHandler) -> Result<(), TransportError> {
        let (queue, consumer) = handler.declare(&self.transport, self.prefetch).await?;
        self.settled.insert(
            (handler.service().to_owned(), handler.method().to_owned()),
            handler.settled(),
        );
        tracing::debug!(queue = %queue, "event handler consuming");
        let up = observe::consuming(&queue, handler.service(), &self.transport);
        let pool = self.pool(handler.service());
        let handler = Arc::new(handler);
        let transport = self.transport.clone();
        self.tasks.spawn(consume(
            queue.to_string(),
            up,
            consumer,
            pool,
            self.workers(),
            self.stop.clone(),
            move |d| {
                let (handler, transport) = (handler.clone(), transport.clone());
                async move { handler.handle(&transport, d).await }
            },
        ));
        Ok(())
    }
}

/// Consume until stopped, running each delivery on a worker task while the pool has room.
async fn consume<F, Fut>(
    queue: String,
    // Reported down when this returns.
    _up: Option<ConsumerUp>,
    mut consumer: Consumer,
    pool: Arc<Semaphore>,
    workers: u32,
    mut stop: watch::Receiver<bool>,
    work: F,
) -> String
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // One wait for the stop signal across every delivery: a fresh `changed()` per delivery
    // would register with the signal and leave it again each time.
    let mut stopped = std::pin::pin!(stop.changed());
    loop {
        let delivery = tokio::select! {
            biased;
            _ = &mut stopped => break,
            delivery = consumer.next() => match delivery {
                Some(delivery) => delivery,
                None => break,
            },
        };
        let Ok(permit) = pool.clone().acquire_owned().await else {
            break;
        };
        // Boxed: a worker's future is large, and spawning moves what it is given several
        // times before the first poll; a box moves once.
        let job = Box::pin(work(delivery));
        tokio::spawn(async move {
            job.await;
            drop(permit);
        });
    }
    consumer.cancel().await;
    // Every worker holds a permit until it has replied and acked: holding them all means
    // none is left in flight.
    let _ = pool.acquire_many(workers).await;
    queue
}
