//! What a contract costs: per-message encode + validate + decode of `create_user`, and
//! in-memory RPC round trips with validation on and off, next to a bare tokio channel
//! request/reply (the in-process floor), all in one run.
//!
//! ```text
//! cargo bench -p seed-services --bench contracts
//! ```
//!
//! The binary uses mimalloc, as a service under load should: with glibc's allocator, frees on
//! another thread than the allocating one contend on arena locks and cost a third of the
//! throughput (see BENCHMARKS.md). Every contender runs under the same allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use contracts_core::prelude::*;
use contracts_core::validate::{Envelope, MessageValidator, View, decode_view};
use contracts_core::wire::{encode_reply, keyword_request};
use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, ValidationMode};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use seed_contracts::{Created, Success, UserData, UserServiceContract};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

mod stateless;
use stateless::{BenchClient, BenchServer, Stateless, user};

/// The shape of `user_service.create_user`'s request struct (generated ones are private to the
/// contract; this one derives the same serde code).
#[derive(Serialize, Deserialize)]
struct CreateUserRequest {
    user_data: UserData,
}

fn messages(c: &mut Criterion) {
    let contract = UserServiceContract::contract();
    let method = contract.method("create_user").unwrap();
    let request_validator = MessageValidator::new(&method.request.schema).unwrap();
    let reply_validator = MessageValidator::new(&method.reply.schema).unwrap();
    let request = CreateUserRequest { user_data: user() };
    let request_json = serde_json::to_vec(&request).unwrap();
    let request_value = serde_json::to_value(&request).unwrap();
    let reply = Created {
        status: Success::Success,
        user_id: 42,
    };
    let reply_value = serde_json::to_value(&reply).unwrap();

    let mut g = c.benchmark_group("message");
    g.throughput(Throughput::Elements(1));
    g.bench_function("request/serde_encode", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&request)).unwrap())
    });
    g.bench_function("request/serde_decode", |b| {
        b.iter(|| {
            serde_json::from_slice::<CreateUserRequest>(std::hint::black_box(&request_json))
                .unwrap()
        })
    });
    g.bench_function("request/validate", |b| {
        b.iter(|| {
            request_validator
                .check(std::hint::black_box(&request_value))
                .unwrap()
        })
    });
    g.bench_function("reply/validate", |b| {
        b.iter(|| {
            reply_validator
                .check(std::hint::black_box(&reply_value))
                .unwrap()
        })
    });
    g.bench_function("request/validate_view", |b| {
        b.iter(|| {
            let view = View::parse(std::hint::black_box(&request_json)).unwrap();
            request_validator.check_view(&view).unwrap()
        })
    });
    // The whole path a request takes through client and server, as the runtime takes it:
    // bytes, a view of them checked, the envelope; then the envelope read as views, the
    // arguments checked and decoded from their view.
    g.bench_function("request/encode_validate_decode", |b| {
        b.iter(|| {
            let kwargs = serde_json::to_vec(std::hint::black_box(&request)).unwrap();
            request_validator
                .check_view(&View::parse(&kwargs).unwrap())
                .unwrap();
            let body = keyword_request(&kwargs);
            let envelope = Envelope::parse(&body).unwrap();
            let [_, Some(kwargs)] = envelope.into_parts(["args", "kwargs"]).unwrap() else {
                unreachable!()
            };
            request_validator.check_view(&kwargs.view).unwrap();
            decode_view::<CreateUserRequest>(&kwargs.view).unwrap()
        })
    });
    g.bench_function("reply/encode_validate_decode", |b| {
        b.iter(|| {
            let result = serde_json::value::to_raw_value(std::hint::black_box(&reply)).unwrap();
            reply_validator
                .check_view(&View::parse(result.get().as_bytes()).unwrap())
                .unwrap();
            let body = encode_reply(&result, None);
            let envelope = Envelope::parse(&body).unwrap();
            let [Some(result), _] = envelope.into_parts(["result", "error"]).unwrap() else {
                unreachable!()
            };
            reply_validator.check_view(&result.view).unwrap();
            decode_view::<Created>(&result.view).unwrap()
        })
    });
    g.finish();
}

const IN_FLIGHT: u64 = 64;

/// Run `iters` calls, `concurrency` at a time, and time them.
async fn drive<F, Fut>(iters: u64, concurrency: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let per_task = iters.div_ceil(concurrency);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Normalise to `iters` calls when rounding ran a few more.
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * concurrency) as f64)
}

type Floor = mpsc::Sender<(CreateUserRequest, oneshot::Sender<Created>)>;

/// Everything measured on one runtime.
struct Contenders {
    floors: Vec<(&'static str, Floor)>,
    clients: Vec<(&'static str, BenchClient)>,
    running: Vec<contracts_core::RunningServices>,
}

fn contenders(rt: &Runtime) -> Contenders {
    rt.block_on(async {
        // The floors: a server answering typed requests over tokio channels, either in its own
        // loop (no concurrency at all) or with a task per request, the least a server that
        // handles calls concurrently does.
        let floor = |spawn_per_request: bool| -> Floor {
            let (tx, mut rx) = mpsc::channel::<(CreateUserRequest, oneshot::Sender<Created>)>(1024);
            tokio::spawn(async move {
                while let Some((request, reply)) = rx.recv().await {
                    let answer = async move {
                        let _ = reply.send(Created {
                            status: Success::Success,
                            user_id: request.user_data.user_id,
                        });
                    };
                    if spawn_per_request {
                        tokio::spawn(answer);
                    } else {
                        answer.await;
                    }
                }
            });
            tx
        };
        let floors = vec![
            ("tokio_channel_floor", floor(false)),
            ("tokio_channel_task_per_request_floor", floor(true)),
        ];
        // Validation off means the whole path: the client, and a server without validation.
        let mut clients = Vec::new();
        let mut running = Vec::new();
        for (name, mode) in [
            ("rpc_validation_off", ValidationMode::Off),
            ("rpc_validation_on", ValidationMode::Both),
        ] {
            let broker = MemoryBroker::shared();
            running.push(
                ServiceRunner::new(broker.clone())
                    .max_workers(IN_FLIGHT as usize)
                    .validation(mode)
                    .serve(BenchServer::new(Stateless))
                    .start()
                    .await
                    .unwrap(),
            );
            let rpc = RpcClient::connect(broker, "bench-client").await.unwrap();
            clients.push((name, BenchClient::new(rpc.with_validation(mode))));
        }
        Contenders {
            floors,
            clients,
            running,
        }
    })
}

fn round_trips(c: &mut Criterion) {
    // One thread: a call's cost without cross-thread wake-ups, which make sequential latency
    // on two threads vary by ±40% between identical setups. Two threads: what the machine has.
    let runtimes = [
        (
            "1_thread",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        ),
        (
            "2_threads",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ),
    ];
    let mut g = c.benchmark_group("round_trip");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    for (threads, rt) in &runtimes {
        let contenders = contenders(rt);
        for concurrency in [1, IN_FLIGHT] {
            let shape = if concurrency == 1 {
                "sequential"
            } else {
                "64_in_flight"
            };
            let label = format!("{threads}/{shape}");
            for (name, floor) in &contenders.floors {
                g.bench_function(BenchmarkId::new(*name, &label), |b| {
                    b.to_async(rt).iter_custom(|iters| {
                        let floor = floor.clone();
                        drive(iters, concurrency, move || {
                            let floor = floor.clone();
                            async move {
                                let (tx, rx) = oneshot::channel();
                                floor
                                    .send((CreateUserRequest { user_data: user() }, tx))
                                    .await
                                    .unwrap();
                                assert_eq!(rx.await.unwrap().user_id, 42);
                            }
                        })
                    })
                });
            }
            for (name, client) in &contenders.clients {
                g.bench_function(BenchmarkId::new(*name, &label), |b| {
                    b.to_async(rt).iter_custom(|iters| {
                        let client = client.clone();
                        drive(iters, concurrency, move || {
                            let client = client.clone();
                            async move {
                                assert_eq!(client.create_user(user()).await.unwrap().user_id, 42);
                            }
                        })
                    })
                });
            }
        }
        rt.block_on(async {
            for running in contenders.running {
                running.stop().await;
            }
        });
    }
    g.finish();
}

criterion_group!(benches, messages, round_trips);
criterion_main!(benches);
