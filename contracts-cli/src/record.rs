//! `contracts record`: a copy of a running fleet's Nameko traffic, written as samples.
//!
//! The recorder declares a queue of its own (exclusive, auto-deleted, capped at
//! [`QUEUE_CAP`] messages, dropping its oldest beyond) and binds it beside the services'
//! queues, so RabbitMQ routes it a copy of each message: nothing is taken from a service's
//! queue and nothing is acknowledged on anyone's behalf. The bindings, per service named:
//!
//! - `nameko-rpc` with `<service>.*`: the service's requests. Only for a service whose
//!   `rpc-<service>` queue exists: a binding for a service nobody serves would make its
//!   requests routable, and a caller would wait for a reply instead of hearing at once that
//!   the service is unknown (Nameko publishes requests `mandatory`).
//! - `nameko-rpc` with `*`: every reply. A reply's routing key is its reply queue's id, one
//!   word, and requests always have two (`service.method`); replies are published without
//!   `mandatory`, so routing one more copy changes nothing for them.
//! - `<service>.events` with `#`: the service's events (the exchange is declared as Nameko
//!   declares it, which changes nothing if it exists).
//!
//! What it costs the broker: each recorded message is routed to one more queue and kept in
//! memory there (non-durable, so never written to disk) until the recorder takes it. Requests
//! are joined to their replies by correlation id. Samples are written as a
//! [recording], at most `cap` per message; bodies that are not JSON are
//! counted, never written.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use contracts_core::transport::{
    Consumer, Delivery, Headers, QueueSpec, SharedTransport, TransportError,
};
use contracts_core::wire::topology;
use serde_json::{Map, Value, json};

use crate::recording::{self, Call, Event};

/// The most messages the recorder's queue holds before the broker drops its oldest: a
/// recorder that falls behind loses samples, never the broker's memory.
pub const QUEUE_CAP: u64 = 100_000;

/// Requests still waiting for their reply, at most; past it the oldest is written unreplied.
const PENDING_CAP: usize = 100_000;

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The broker refused a step of setting the recording up, or the connection failed.
    #[error("cannot record from the broker")]
    Broker(#[from] TransportError),
    /// A sample file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What to record.
#[derive(Clone, Debug)]
pub struct Options {
    /// The services whose traffic is recorded.
    pub services: Vec<String>,
    /// Samples written per message (method or event), at most.
    pub cap: usize,
    /// Stop after this many messages (requests, replies and events) were taken.
    pub count: Option<u64>,
}

/// What a recording saw, per message and in all.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Services whose requests were recorded (their RPC queue exists).
    pub rpc_services: Vec<String>,
    /// Per `<service>.<method>` (RPC) or `<service>.<event>` (events): seen and written.
    pub messages: BTreeMap<String, Tally>,
    /// Bodies that were not JSON, per message.
    pub not_json: BTreeMap<String, u64>,
    /// Replies whose request the recording did not see (it started mid-call).
    pub unmatched_replies: u64,
    /// Messages taken in all.
    pub taken: u64,
}

/// One message's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// How many the recording saw.
    pub seen: u64,
    /// How many it wrote (at most the cap).
    pub written: u64,
}

/// A request waiting for its reply.
struct Pending {
    service: String,
    method: String,
    /// The request, its reply still unknown.
    call: Call,
}

/// The sample files, opened as they are first needed.
struct Samples {
    dir: PathBuf,
    cap: usize,
    files: HashMap<PathBuf, BufWriter<File>>,
    summary: Summary,
}

impl Samples {
    fn write(
        &mut self,
        service: &str,
        file: &str,
        key: String,
        sample: &impl serde::Serialize,
    ) -> Result<(), RecordError> {
        let tally = self.summary.messages.entry(key).or_default();
        tally.seen += 1;
        if tally.written >= self.cap as u64 {
            return Ok(());
        }
        tally.written += 1;
        let path = self.dir.join(service).join(file);
        let failed = |source| RecordError::Write {
            path: path.clone(),
            source,
        };
        if !self.files.contains_key(&path) {
            std::fs::create_dir_all(path.parent().expect("a service folder")).map_err(failed)?;
            let opened = File::create(&path).map_err(failed)?;
            self.files.insert(path.clone(), BufWriter::new(opened));
        }
        let writer = self.files.get_mut(&path).expect("opened above");
        serde_json::to_writer(&mut *writer, sample)
            .map_err(std::io::Error::from)
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(failed)
    }

    fn finish(mut self) -> Result<Summary, RecordError> {
        for (path, mut writer) in self.files.drain() {
            writer
                .flush()
                .map_err(|source| RecordError::Write { path, source })?;
        }
        Ok(self.summary)
    }
}

/// A service name as a file name may hold it: Nameko's names are identifiers, but a
/// routing key could carry anything.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A recording whose queue is bound and consumed: every message routed from now on is
/// recorded by [`Recorder::run`].
pub struct Recorder {
    consumer: Consumer,
    rpc_services: Vec<String>,
    cap: usize,
    count: Option<u64>,
}

impl Recorder {
    /// Declare and bind the recorder's queue for `options.services` on `transport`, and start
    /// consuming it. The queue goes with the connection.
    pub async fn start(
        transport: &SharedTransport,
        options: &Options,
    ) -> Result<Self, RecordError> {
        let queue = QueueSpec {
            name: format!("contracts-record-{}", uuid::Uuid::new_v4().simple()),
            durable: false,
            exclusive: true,
            auto_delete: true,
            arguments: Headers::from_iter([("x-max-length".to_owned(), json!(QUEUE_CAP))]),
        };
        transport.declare_queue(&queue).await?;
        // Declared as Nameko declares it (a no-op where it exists), before anything binds to it.
        transport
            .declare_exchange(&topology::rpc_exchange_named(topology::RPC_EXCHANGE))
            .await?;
        let mut rpc_services = Vec::new();
        for service in &options.services {
            if transport
                .message_count(&topology::rpc_queue_name(service))
                .await
                .is_ok()
            {
                let pattern = format!("{service}.*");
                transport
                    .bind(&queue.name, topology::RPC_EXCHANGE, &pattern)
                    .await?;
                rpc_services.push(service.clone());
            }
            let events = topology::events_exchange(service);
            transport.declare_exchange(&events).await?;
            transport.bind(&queue.name, &events.name, "#").await?;
        }
        transport
            .bind(&queue.name, topology::RPC_EXCHANGE, "*")
            .await?;
        let consumer = transport.consume(&queue.name, 500).await?;
        Ok(Self {
            consumer,
            rpc_services,
            cap: options.cap,
            count: options.count,
        })
    }

    /// Record into `dir` until `stop` completes or the recorder took its count of messages.
    pub async fn run(
        self,
        dir: &Path,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Summary, RecordError> {
        let Self {
            mut consumer,
            rpc_services,
            cap,
            count,
        } = self;
        let mut samples = Samples {
            dir: dir.to_owned(),
            cap,
            files: HashMap::new(),
            summary: Summary {
                rpc_services,
                ..Summary::default()
            },
        };
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut order: VecDeque<String> = VecDeque::new();
        tokio::pin!(stop);
        loop {
            if count.is_some_and(|n| samples.summary.taken >= n) {
                break;
            }
            let delivery = tokio::select! {
                () = &mut stop => break,
                delivery = consumer.next() => match delivery {
                    Some(delivery) => delivery,
                    None => return Err(TransportError::closed("the recorder's consumer ended").into()),
                },
            };
            samples.summary.taken += 1;
            take(&delivery, &mut samples, &mut pending, &mut order)?;
            // Our own queue's copy: acknowledging it settles nothing of anyone else's.
            delivery.acker.ack().await?;
            while order.len() > PENDING_CAP {
                if let Some(id) = order.pop_front()
                    && let Some(request) = pending.remove(&id)
                {
                    unreplied(&mut samples, request)?;
                }
            }
        }
        for id in order {
            if let Some(request) = pending.remove(&id) {
                unreplied(&mut samples, request)?;
            }
        }
        samples.finish()
    }
}

fn unreplied(samples: &mut Samples, request: Pending) -> Result<(), RecordError> {
    let key = format!("{}.{}", request.service, request.method);
    let file = recording::call_file(&safe(&request.method));
    samples.write(&safe(&request.service), &file, key, &request.call)
}

/// One message: a request kept until its reply, a reply joined to its request, an event.
fn take(
    delivery: &Delivery,
    samples: &mut Samples,
    pending: &mut HashMap<String, Pending>,
    order: &mut VecDeque<String>,
) -> Result<(), RecordError> {
    let message = &delivery.message;
    let body: Option<Value> = serde_json::from_slice(&message.body).ok();
    if let Some(service) = delivery.exchange.strip_suffix(".events") {
        let key = format!("{service}.{}", delivery.routing_key);
        let Some(payload) = body else {
            *samples.summary.not_json.entry(key).or_default() += 1;
            return Ok(());
        };
        let file = recording::event_file(&safe(&delivery.routing_key));
        return samples.write(&safe(service), &file, key, &Event { payload });
    }
    match delivery.routing_key.split_once('.') {
        Some((service, method)) => {
            let key = format!("{service}.{method}");
            let Some(Value::Object(mut body)) = body else {
                *samples.summary.not_json.entry(key).or_default() += 1;
                return Ok(());
            };
            let request = Pending {
                service: service.to_owned(),
                method: method.to_owned(),
                call: Call {
                    args: match body.remove("args") {
                        Some(Value::Array(args)) => args,
                        _ => Vec::new(),
                    },
                    kwargs: match body.remove("kwargs") {
                        Some(Value::Object(kwargs)) => kwargs,
                        _ => Map::new(),
                    },
                    ..Call::default()
                },
            };
            match &message.properties.correlation_id {
                Some(id) => {
                    order.push_back(id.clone());
                    pending.insert(id.clone(), request);
                    Ok(())
                }
                None => unreplied(samples, request),
            }
        }
        None => {
            let request = message
                .properties
                .correlation_id
                .as_ref()
                .and_then(|id| pending.remove(id));
            let Some(request) = request else {
                samples.summary.unmatched_replies += 1;
                return Ok(());
            };
            let key = format!("{}.{}", request.service, request.method);
            let Some(Value::Object(mut reply)) = body else {
                *samples.summary.not_json.entry(key).or_default() += 1;
                return Ok(());
            };
            let call = Call {
                replied: true,
                result: reply.remove("result").unwrap_or(Value::Null),
                error: match reply.remove("error") {
                    Some(Value::Object(error)) => Some(error),
                    _ => None,
                },
                ..request.call
            };
            let file = recording::call_file(&safe(&request.method));
            samples.write(&safe(&request.service), &file, key, &call)
        }
    }
}
