//! Events between Rust and real Nameko 2.14.1 processes over the real RabbitMQ, each test in its
//! own vhost: Nameko's `EventDispatcher` and standalone dispatcher reach Rust handlers of all
//! three types; the Rust publisher reaches Nameko handlers of all three types; a Rust and a
//! Nameko handler share one service-pool queue; Nameko's duplicates (no message id) are
//! handled once by two Rust instances sharing a Redis dedupe store.
//!
//! Nameko handlers report what they got by calling the Rust `tally` service, so every wait
//! below is on a message, not on time.

mod duplicates;
mod faults;

use std::path::PathBuf;
use std::time::Duration;

use contracts_core::prelude::*;
use contracts_core::{EventHandler, HandlerType, RpcClient, ServiceRunner, wire::context};
use contracts_testkit::nameko::{NamekoProcess, run_client};
use contracts_testkit::{TestVhost, guarded};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::mpsc;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("nameko")
        .join(name)
}

/// Where Nameko handlers report: `record(user_id, by)`.
#[service(name = "tally")]
trait Tally {
    async fn record(&self, user_id: u64, by: String);
}

struct Recorder(mpsc::UnboundedSender<(u64, String)>);

impl Tally for Recorder {
    async fn record(&self, user_id: u64, by: String) {
        let _ = self.0.send((user_id, by));
    }
}

type Seen = mpsc::UnboundedReceiver<(u64, String, Vec<String>)>;

/// A Rust handler reporting `(user_id, label, call_id_stack)`.
fn rust_handler(
    tx: &mpsc::UnboundedSender<(u64, String, Vec<String>)>,
    service: &str,
    label: &str,
) -> EventHandler {
    let (tx, label) = (tx.clone(), label.to_owned());
    UserServiceContract::user_created().handler(
        service,
        "on_user_created",
        move |e: UserCreated| {
            let (tx, label) = (tx.clone(), label.clone());
            async move {
                let stack = context::current()
                    .map(|c| c.call_id_stack().into_iter().map(str::to_owned).collect())
                    .unwrap_or_default();
                tx.send((e.user_id, label, stack)).map_err(|_| "test gone")
            }
        },
    )
}

async fn take(seen: &mut Seen, n: usize) -> Vec<(u64, String, Vec<String>)> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(
            guarded("events", seen.recv())
                .await
                .expect("handlers alive"),
        );
    }
    got.sort();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameko_dispatchers_reach_rust_handlers_of_every_type() {
    let vhost = TestVhost::create("evt-in");
    let broker = vhost.connect().await;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let running = ServiceRunner::new(broker.clone())
        .subscribe(rust_handler(&tx, "rust_pool", "pool"))
        .subscribe(
            rust_handler(&tx, "rust_singleton", "singleton").handler_type(HandlerType::Singleton),
        )
        .subscribe(
            rust_handler(&tx, "rust_broadcast", "broadcast").handler_type(HandlerType::Broadcast),
        )
        .start()
        .await
        .expect("handlers start");
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["user_service"]).await;

    // A Nameko service's EventDispatcher: the event carries the dispatching worker's context.
    let rpc = RpcClient::connect(broker.clone(), "evt_test")
        .await
        .unwrap();
    rpc.call(
        "user_service",
        "announce",
        vec![serde_json::json!(1), serde_json::json!("Ann")],
        Default::default(),
    )
    .await
    .expect("announce");
    let got = take(&mut seen, 3).await;
    let labels: Vec<&str> = got.iter().map(|(_, l, _)| l.as_str()).collect();
    assert_eq!(labels, ["broadcast", "pool", "singleton"]);
    for (user_id, label, stack) in &got {
        assert_eq!(*user_id, 1);
        assert_eq!(stack.len(), 3, "{label}: {stack:?}");
        assert!(stack[0].starts_with("evt_test.call."), "{stack:?}");
        assert!(stack[1].starts_with("user_service.announce."), "{stack:?}");
        assert!(
            stack[2].starts_with(&format!("rust_{label}.on_user_created.")),
            "{stack:?}"
        );
    }

    // Nameko's standalone dispatcher sends no headers at all.
    run_client(&vhost, &script("client.py"), &["dispatch_standalone"]).await;
    let got = take(&mut seen, 3).await;
    for (user_id, label, stack) in &got {
        assert_eq!(*user_id, 2);
        assert_eq!(stack.len(), 1, "{label}: only its own id: {stack:?}");
    }

    python.terminate().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_publisher_reaches_nameko_handlers_of_every_type() {
    let vhost = TestVhost::create("evt-out");
    let broker = vhost.connect().await;
    let (tx, mut tallied) = mpsc::unbounded_channel();
    let (rust_tx, mut rust_seen) = mpsc::unbounded_channel();
    // A Rust broadcast handler without reliable_delivery, like Nameko's on_broadcast.
    let volatile = rust_handler(&rust_tx, "rust_volatile", "broadcast")
        .handler_type(HandlerType::Broadcast)
        .reliable_delivery(false);
    let running = ServiceRunner::new(broker.clone())
        .serve(TallyServer::new(Recorder(tx)))
        .subscribe(volatile)
        .start()
        .await
        .unwrap();
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["py_listener"]).await;
    let queues = vhost.queues();
    let flags = |prefix: &str| {
        let q = queues
            .iter()
            .find(|q| q.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}* in {queues:?}"));
        (q.durable, q.exclusive, q.auto_delete)
    };
    let nameko = flags("evt-user_service-user_created--py_listener.on_broadcast-");
    assert_eq!(
        nameko,
        (false, true, true),
        "RabbitMQ lists exclusive queues as transient"
    );
    assert_eq!(
        flags("evt-user_service-user_created--rust_volatile.on_user_created-"),
        nameko
    );

    UserServicePublisher::new(broker.clone())
        .user_created(&UserCreated {
            user_id: 7,
            name: "Eve".into(),
        })
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(guarded("tally", tallied.recv()).await.unwrap());
    }
    got.sort();
    assert_eq!(
        got,
        [
            (7, "broadcast".into()),
            (7, "pool".into()),
            (7, "singleton".into())
        ]
    );
    assert_eq!(
        guarded("rust broadcast", rust_seen.recv()).await.unwrap().0,
        7
    );

    python.terminate().await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_nameko_handlers_share_a_service_pool_queue() {
    let vhost = TestVhost::create("evt-shared");
    let broker = vhost.connect().await;
    let (tally_tx, mut tallied) = mpsc::unbounded_channel();
    let handler = {
        let tally_tx = tally_tx.clone();
        UserServiceContract::user_created().handler(
            "mailer",
            "on_user_created",
            move |e: UserCreated| {
                let tally_tx = tally_tx.clone();
                async move {
                    tally_tx
                        .send((e.user_id, "rust".to_owned()))
                        .map_err(|_| "test gone")
                }
            },
        )
    };
    // Nameko declares the queue first, then the Rust handler joins it: identical flags.
    let tally = ServiceRunner::new(broker.clone())
        .serve(TallyServer::new(Recorder(tally_tx)))
        .start()
        .await
        .unwrap();
    let python = NamekoProcess::start(&vhost, &script("services.py"), &["mailer"]).await;
    let running = ServiceRunner::new(broker.clone())
        .subscribe(handler)
        .start()
        .await
        .expect("the Rust handler declares Nameko's queue without a 406");
    let queue = vhost
        .queue("evt-user_service-user_created--mailer.on_user_created")
        .expect("shared queue");
    assert_eq!(queue.consumers, 2, "{queue:?}");
    assert!(queue.durable && !queue.exclusive && !queue.auto_delete && queue.arguments.is_empty());

    let publisher = UserServicePublisher::new(broker.clone());
    for user_id in 1..=20 {
        publisher
            .user_created(&UserCreated {
                user_id,
                name: format!("user {user_id}"),
            })
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        got.push(guarded("tally", tallied.recv()).await.unwrap());
    }
    let mut ids: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=20).collect::<Vec<_>>(),
        "each event handled once in all"
    );
    let by_nameko = got.iter().filter(|(_, by)| by == "nameko").count();
    assert!(
        by_nameko > 0 && by_nameko < 20,
        "both handled some: {got:?}"
    );

    python.terminate().await;
    running.stop().await;
    tally.stop().await;
}

/// Two Rust instances of one handler share its queue and a Redis dedupe store. Nameko's
/// standalone dispatcher sends user 1's event twice (no message id, no headers: the same
/// message twice), then users 2 and 3. User 3's first attempt fails: its claim is released,
/// so the retry runs instead of being taken for a duplicate. Every event is handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameko_duplicates_are_handled_once_across_instances_sharing_redis() {
    use contracts_core::events::retry::{self, RetryPolicy};
    let vhost = TestVhost::create("nameko-dedupe");
    let broker = vhost.connect().await;
    // Every handler invocation: (instance, user_id, succeeded).
    let (tx, mut calls) = mpsc::unbounded_channel::<(usize, u64, bool)>();
    let failed_once = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut instances = Vec::new();
    let mut duplicates = Vec::new();
    for instance in 0..2 {
        let store = contracts_testkit::redis_dedupe(vhost.name()).await;
        let (store, seen) = duplicates::Watched::new(store);
        duplicates.push(seen);
        let (tx, failed_once) = (tx.clone(), failed_once.clone());
        let handler = UserServiceContract::user_created()
            .handler("mailer", "on_user_created", move |e: UserCreated| {
                let (tx, failed_once) = (tx.clone(), failed_once.clone());
                async move {
                    let fail = e.user_id == 3
                        && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst);
                    tx.send((instance, e.user_id, !fail))
                        .map_err(|_| "test gone".to_owned())?;
                    if fail {
                        return Err("mail server down".to_owned());
                    }
                    Ok(())
                }
            })
            .retry(RetryPolicy::new([Duration::from_millis(50)]))
            .dedupe(store);
        let running = ServiceRunner::new(broker.clone())
            .subscribe(handler)
            .start()
            .await
            .unwrap();
        instances.push(running);
    }
    let queue = "evt-user_service-user_created--mailer.on_user_created";
    assert_eq!(vhost.queue(queue).expect("handler queue").consumers, 2);

    run_client(&vhost, &script("client.py"), &["dispatch_for_dedupe"]).await;
    let mut got = Vec::new();
    while got.iter().filter(|(_, _, ok)| *ok).count() < 3 {
        got.push(
            guarded("handled events", calls.recv())
                .await
                .expect("handlers alive"),
        );
    }
    // The second dispatch of user 1 reached one of the instances and was turned away there.
    guarded("the duplicate", async {
        loop {
            if duplicates.iter().map(|d| *d.borrow()).sum::<usize>() >= 1 {
                break;
            }
            let (a, b) = duplicates.split_at_mut(1);
            tokio::select! {
                _ = a[0].changed() => {}
                _ = b[0].changed() => {}
            }
        }
    })
    .await;
    for running in instances {
        running.stop().await;
    }
    while let Ok(call) = calls.try_recv() {
        got.push(call);
    }
    let mut outcomes: Vec<(u64, bool)> = got.iter().map(|(_, user, ok)| (*user, *ok)).collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        [(1, true), (2, true), (3, false), (3, true)],
        "each event handled once; user 3 retried after its failure"
    );
    let duplicates: usize = duplicates.iter().map(|d| *d.borrow()).sum();
    assert_eq!(
        duplicates, 1,
        "only user 1's second dispatch was a duplicate"
    );
    assert!(
        retry::dead_letters(broker.as_ref(), queue)
            .await
            .unwrap()
            .is_empty()
    );
}
