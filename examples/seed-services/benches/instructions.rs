//! What validation costs per in-memory round trip, in instructions: a count that does not
//! move with the machine's load, unlike the timings of `benches/contracts.rs`.
//!
//! ```text
//! cargo bench -p seed-services --bench instructions
//! ```
//!
//! It re-runs itself under `valgrind --tool=callgrind` (install valgrind if it is missing)
//! making N and 3N `create_user` calls on a one-thread runtime, with validation on and off,
//! sequentially and 64 in flight; the difference between the two runs divided by 2N is the cost
//! of one call, free of start-up work.

use std::process::Command;

use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, ValidationMode};

mod stateless;
use stateless::{BenchClient, BenchServer, Stateless, user};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CALLS: u64 = 2_000;

/// The measured program: `calls` calls, `in_flight` at a time.
fn run(mode: ValidationMode, calls: u64, in_flight: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let broker = MemoryBroker::shared();
        let running = ServiceRunner::new(broker.clone())
            .max_workers(64)
            .validation(mode)
            .serve(BenchServer::new(Stateless))
            .start()
            .await
            .unwrap();
        let rpc = RpcClient::connect(broker, "bench-client").await.unwrap();
        let client = BenchClient::new(rpc.with_validation(mode));
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    for _ in 0..calls / in_flight {
                        assert_eq!(client.create_user(user()).await.unwrap().user_id, 42);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        running.stop().await;
    });
}

fn instructions(mode: &str, calls: u64, in_flight: u64) -> u64 {
    let me = std::env::current_exe().unwrap();
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(&me)
        .env("CONTRACTS_BENCH_RUN", format!("{mode} {calls} {in_flight}"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run valgrind ({e}): install it, e.g. `apt-get install valgrind`")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no instruction count in valgrind's output:\n{stderr}"))
}

fn main() {
    if let Ok(spec) = std::env::var("CONTRACTS_BENCH_RUN") {
        let mut words = spec.split(' ');
        let mode = match words.next() {
            Some("on") => ValidationMode::Both,
            _ => ValidationMode::Off,
        };
        let calls = words.next().unwrap().parse().unwrap();
        let in_flight = words.next().unwrap().parse().unwrap();
        run(mode, calls, in_flight);
        return;
    }
    // `cargo bench` passes `--bench`; anything else is a filter we do not support.
    println!("instructions per create_user round trip (one thread, callgrind):");
    for in_flight in [1, 64] {
        let per_call = |mode| {
            let few = instructions(mode, CALLS, in_flight);
            let many = instructions(mode, 3 * CALLS, in_flight);
            (many - few) / (2 * CALLS)
        };
        let off = per_call("off");
        let on = per_call("on");
        let shape = if in_flight == 1 {
            "sequential"
        } else {
            "64 in flight"
        };
        println!(
            "  {shape:>12}: validation off {off:>7}, on {on:>7}: validation adds {:.1}%",
            (on as f64 / off as f64 - 1.0) * 100.0
        );
    }
}
