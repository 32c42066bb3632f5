//! What a validated call and a validated event cost on the in-memory broker, in instructions:
//! a count that does not move with the machine's load, unlike the timings of
//! `benches/contracts.rs`, so CI can guard it.
//!
//! ```text
//! cargo bench -p seed-services --bench instructions              # the table
//! cargo bench -p seed-services --bench instructions -- --check   # CI's guard
//! ```
//!
//! It re-runs itself under `valgrind --tool=callgrind` (install valgrind if it is missing),
//! each program twice on a one-thread runtime: once with N operations and once with 3N. The
//! difference between the two counts, divided by the operations the larger run made beyond the
//! smaller, is the cost of one operation, free of start-up work.
//!
//! `--check` measures the validated programs only and compares each with
//! `benches/instructions.baseline`: more than 3% above its baseline fails. Updating the baseline
//! is a one-line change a reviewer sees.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, ValidationMode};
use seed_contracts::{UserCreated, UserServiceContract, UserServicePublisher};
use tokio::sync::Notify;

mod stateless;
use stateless::{BenchClient, BenchServer, Stateless, user};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Operations in the smaller run; the larger makes three times as many.
const OPERATIONS: u64 = 2_000;
/// Callers (or publishers) at once in the concurrent programs.
const IN_FLIGHT: u64 = 64;
/// How far above its baseline a figure may go before `--check` fails.
const TOLERANCE: f64 = 0.03;
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/instructions.baseline");
/// The baseline as a reader of CI's log finds it in the repository.
const BASELINE_IN_REPO: &str = "examples/seed-services/benches/instructions.baseline";

/// One measured program.
#[derive(Clone, Copy)]
enum Program {
    /// `create_user` round trips, `in_flight` callers at a time.
    Calls {
        validation: ValidationMode,
        in_flight: u64,
    },
    /// `user_created` published by [`IN_FLIGHT`] publishers, each handled by a subscriber.
    Events,
}

impl Program {
    /// The operations it makes when asked for `operations`: each caller makes an equal share.
    fn made(self, operations: u64) -> u64 {
        self.each(operations) * self.callers()
    }

    /// Callers (or publishers) at once.
    fn callers(self) -> u64 {
        match self {
            Program::Calls { in_flight, .. } => in_flight,
            Program::Events => IN_FLIGHT,
        }
    }

    /// Each caller's share of `operations`: the same for all, so a remainder is not made.
    fn each(self, operations: u64) -> u64 {
        operations / self.callers()
    }

    /// How the child process is told what to run.
    fn spec(self, operations: u64) -> String {
        match self {
            Program::Calls {
                validation,
                in_flight,
            } => {
                let mode = if validation == ValidationMode::Off {
                    "off"
                } else {
                    "on"
                };
                format!("calls {mode} {in_flight} {operations}")
            }
            Program::Events => format!("events on {IN_FLIGHT} {operations}"),
        }
    }

    fn parse(spec: &str) -> (Program, u64) {
        let words: Vec<&str> = spec.split(' ').collect();
        let [kind, mode, in_flight, operations] = words[..] else {
            panic!("bad program spec {spec:?}");
        };
        let validation = if mode == "off" {
            ValidationMode::Off
        } else {
            ValidationMode::Both
        };
        let program = match kind {
            "calls" => Program::Calls {
                validation,
                in_flight: in_flight.parse().unwrap(),
            },
            _ => Program::Events,
        };
        (program, operations.parse().unwrap())
    }

    fn run(self, operations: u64) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let each = self.each(operations);
        match self {
            Program::Calls {
                validation,
                in_flight,
            } => rt.block_on(calls(validation, in_flight, each)),
            Program::Events => rt.block_on(events(each)),
        }
    }

    /// Instructions per operation: two runs under callgrind, the difference divided by the
    /// operations the larger run made beyond the smaller.
    fn per_operation(self) -> u64 {
        let few = instructions(&self.spec(OPERATIONS));
        let many = instructions(&self.spec(3 * OPERATIONS));
        (many - few) / (self.made(3 * OPERATIONS) - self.made(OPERATIONS))
    }
}

async fn calls(validation: ValidationMode, in_flight: u64, each: u64) {
    let broker = MemoryBroker::shared();
    let running = ServiceRunner::new(broker.clone())
        .max_workers(64)
        .validation(validation)
        .serve(BenchServer::new(Stateless))
        .start()
        .await
        .unwrap();
    let rpc = RpcClient::connect(broker, "bench-client").await.unwrap();
    let client = BenchClient::new(rpc.with_validation(validation));
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..each {
                    assert_eq!(client.create_user(user()).await.unwrap().user_id, 42);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    running.stop().await;
}

async fn events(each: u64) {
    let target = each * IN_FLIGHT;
    let handled = Arc::new((AtomicU64::new(0), Notify::new()));
    let handler = {
        let handled = handled.clone();
        UserServiceContract::user_created().handler(
            "bench",
            "on_user_created",
            move |event: UserCreated| {
                assert_eq!(event.user_id, 42);
                if handled.0.fetch_add(1, Ordering::SeqCst) + 1 == target {
                    handled.1.notify_one();
                }
                async { Ok::<(), std::convert::Infallible>(()) }
            },
        )
    };
    let broker = MemoryBroker::shared();
    let running = ServiceRunner::new(broker.clone())
        .max_workers(64)
        .subscribe(handler)
        .start()
        .await
        .unwrap();
    let publisher = UserServicePublisher::new(broker);
    let event = UserCreated {
        user_id: 42,
        name: "Ada Lovelace".into(),
    };
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (publisher, event) = (publisher.clone(), event.clone());
            tokio::spawn(async move {
                for _ in 0..each {
                    publisher.user_created(&event).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    handled.1.notified().await;
    running.stop().await;
}

/// The instructions one run of `spec` takes, counted by callgrind.
fn instructions(spec: &str) -> u64 {
    let me = std::env::current_exe().unwrap();
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&me)
        .env("CONTRACTS_BENCH_RUN", spec)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run valgrind ({e}): install it, e.g. `apt-get install valgrind`")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`{spec}` failed under valgrind:\n{stderr}"
    );
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count in valgrind's output:\n{stderr}"))
}

/// The programs CI guards, by the name the baseline file gives them.
fn guarded() -> [(&'static str, Program); 3] {
    let validated = |in_flight| Program::Calls {
        validation: ValidationMode::Both,
        in_flight,
    };
    [
        ("round_trip_validated_sequential", validated(1)),
        ("round_trip_validated_64_in_flight", validated(IN_FLIGHT)),
        ("event_publish_and_handle", Program::Events),
    ]
}

/// `name figure` lines; `#` starts a comment.
fn baseline() -> Vec<(String, u64)> {
    let text =
        std::fs::read_to_string(BASELINE).unwrap_or_else(|e| panic!("cannot read {BASELINE}: {e}"));
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, figure) = l
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("{BASELINE}: expected `name figure`, got {l:?}"));
            let figure = figure.trim().parse().unwrap_or_else(|_| {
                panic!("{BASELINE}: {name}'s figure {figure:?} is not a number")
            });
            (name.to_string(), figure)
        })
        .collect()
}

/// Measures the guarded programs and compares them with the baseline; false if any is over.
fn check() -> bool {
    let baseline = baseline();
    let mut within = true;
    println!("instructions per operation against {BASELINE_IN_REPO} (fails above +3%):");
    for (name, program) in guarded() {
        let figure = program.per_operation();
        let Some(&(_, base)) = baseline.iter().find(|(n, _)| n == name) else {
            println!("  {name:<34} {figure:>7}  no baseline: add `{name} {figure}`");
            within = false;
            continue;
        };
        let change = figure as f64 / base as f64 - 1.0;
        let verdict = if change > TOLERANCE {
            within = false;
            "OVER"
        } else {
            "ok"
        };
        println!(
            "  {name:<34} {figure:>7}  baseline {base:>7}  {:+.1}%  {verdict}",
            change * 100.0
        );
    }
    if !within {
        println!(
            "an instruction count is more than {:.0}% above its baseline; if the cost is \
             intended, put the new figure in {BASELINE_IN_REPO} and say why in the commit",
            TOLERANCE * 100.0
        );
    }
    within
}

fn table() {
    println!("instructions per operation (one thread, callgrind):");
    for in_flight in [1, IN_FLIGHT] {
        let per_call = |validation| {
            Program::Calls {
                validation,
                in_flight,
            }
            .per_operation()
        };
        let off = per_call(ValidationMode::Off);
        let on = per_call(ValidationMode::Both);
        let shape = if in_flight == 1 {
            "sequential".to_string()
        } else {
            format!("{in_flight} in flight")
        };
        println!(
            "  create_user round trip, {shape:>12}: validation off {off:>7}, on {on:>7}: \
             validation adds {:.1}%",
            (on as f64 / off as f64 - 1.0) * 100.0
        );
    }
    println!(
        "  user_created published and handled, {IN_FLIGHT} publishers, validated: {:>7}",
        Program::Events.per_operation()
    );
}

fn main() {
    if let Ok(spec) = std::env::var("CONTRACTS_BENCH_RUN") {
        let (program, operations) = Program::parse(&spec);
        program.run(operations);
        return;
    }
    // `cargo bench` passes `--bench`; `--check` asks for the guard.
    if std::env::args().any(|a| a == "--check") {
        if !check() {
            std::process::exit(1);
        }
    } else {
        table();
    }
}
