//! What telemetry costs: calls per second with tracing, metrics and JSON logs all on, next to
//! the same calls with none, in memory and over RabbitMQ, sequential and 64 in flight.
//!
//! ```sh
//! cargo bench -p seed-services --bench telemetry   # BENCH_SECONDS=3 BENCH_ROUNDS=5 by default
//! ```
//!
//! Telemetry is set up once per process, so each measurement runs in a child process of this
//! one (`CONTRACTS_BENCH_TELEMETRY=<off|on> <memory|amqp> <in flight>`); rounds interleave off
//! and on, and the table reports medians. "On" is the seed example's config: every call traced
//! and exported over OTLP/gRPC in batches (to a receiver in this parent process, so decoding
//! spans costs the measured process nothing), metrics kept, log lines as JSON (to a sink: the
//! calls log nothing at `info`), the metrics endpoint listening.
//!
//! The floor any tracing of these calls stands on is measured too ("sdk"): per call, the two
//! spans a call makes (the caller's, its context written into headers; the service's, read
//! back from them), made, ended and exported by the OpenTelemetry SDK alone, with the same
//! exporter and no call around them. Its CPU next to a call's says what share of a call
//! tracing cannot go below.
//!
//! `BENCH_PARTS=off,metrics,logs,traces,on` measures each part alone instead (64 in flight, in
//! memory or `BENCH_TRANSPORT=amqp`); `BENCH_RECEIVER=1` also prints the receiver's CPU per
//! call, and the whole machine's (the broker's included; over a child's whole life, warm-up
//! included, so both are upper bounds).

mod stateless;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contracts_core::{MemoryBroker, RpcClient, ServiceRunner, SharedTransport};
use contracts_telemetry::{LogFormat, TelemetryConfig};
use contracts_testkit::{OtlpReceiver, TestVhost};
use stateless::{BenchClient, BenchServer, Stateless, user};

const ENV: &str = "CONTRACTS_BENCH_TELEMETRY";

fn seconds() -> f64 {
    std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0)
}

/// The measured program: calls for `seconds()` with `in_flight` at a time; prints calls/s.
async fn child(mode: &str, transport: &str, in_flight: usize, endpoint: String) {
    if mode == "sdk" {
        return sdk_floor(in_flight, endpoint).await;
    }
    let telemetry = if mode != "off" {
        let all = mode == "on";
        Some(
            contracts_telemetry::install_with_writer(
                &TelemetryConfig {
                    traces: all || mode == "traces",
                    otlp_endpoint: endpoint,
                    service_name: Some("bench".into()),
                    metrics_port: (all || mode == "metrics").then_some(0),
                    log_format: if all || mode == "logs" {
                        LogFormat::Json
                    } else {
                        LogFormat::Text
                    },
                    log_level: "info".into(),
                    ..TelemetryConfig::default()
                },
                std::io::sink,
            )
            .await
            .expect("telemetry installs"),
        )
    } else {
        None
    };
    let vhost;
    let broker: SharedTransport = match transport {
        "memory" => MemoryBroker::shared(),
        _ => {
            vhost = TestVhost::create("bench-telemetry");
            vhost.connect().await
        }
    };
    let running = ServiceRunner::new(broker.clone())
        .max_workers(64)
        .serve(BenchServer::new(Stateless))
        .start()
        .await
        .unwrap();
    let client = BenchClient::new(RpcClient::connect(broker, "bench").await.unwrap());
    // Warm up: connections, channels, the first spans' exporter connection.
    for _ in 0..200 {
        client.create_user(user()).await.unwrap();
    }
    let (rate, cpu_per_call) = run_tasks(in_flight, move || {
        let client = client.clone();
        async move {
            client.create_user(user()).await.unwrap();
        }
    })
    .await;
    running.stop().await;
    if let Some(telemetry) = telemetry {
        telemetry.shutdown();
    }
    println!("RATE {rate} {cpu_per_call}");
}

/// Run `in_flight` tasks for `seconds()`, each doing `one()` over and over; calls per second
/// and CPU microseconds per call.
async fn run_tasks<F, W>(in_flight: usize, one: F) -> (f64, f64)
where
    F: Fn() -> W + Clone + Send + 'static,
    W: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds());
    let started = Instant::now();
    let cpu_before = cpu_time();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (one, done) = (one.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    one().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let calls = done.load(Ordering::Relaxed) as f64;
    let rate = calls / started.elapsed().as_secs_f64();
    (rate, (cpu_time() - cpu_before).as_secs_f64() / calls * 1e6)
}

/// The SDK alone: the two spans of a call, `in_flight` tasks at a time, with the exporter
/// `contracts_telemetry::install` sets up (OTLP/gRPC, the SDK's batch defaults).
async fn sdk_floor(in_flight: usize, endpoint: String) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::{SpanBuilder, SpanKind, TraceContextExt, Tracer, TracerProvider};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_otlp::WithExportConfig;

    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("contracts");
    let span = |kind| {
        SpanBuilder::from_name("bench/create_user")
            .with_kind(kind)
            .with_attributes([
                KeyValue::new("rpc.system.name", "nameko"),
                KeyValue::new("rpc.method", "bench/create_user"),
            ])
    };
    let (rate, cpu_per_call) = run_tasks(in_flight, move || {
        let tracer = tracer.clone();
        async move {
            let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
            let client = tracer.build_with_context(span(SpanKind::Client), &Context::new());
            let client = Context::new().with_span(client);
            let mut headers = std::collections::HashMap::<String, String>::new();
            propagator.inject_context(&client, &mut headers);
            let parent = propagator.extract(&headers);
            let server = tracer.build_with_context(span(SpanKind::Server), &parent);
            drop(Context::new().with_span(server));
            client.span().end();
            tokio::task::yield_now().await;
        }
    })
    .await;
    provider.shutdown().unwrap();
    println!("RATE {rate} {cpu_per_call}");
}

/// CPU time this process has used (user + system), from /proc: the exporter's threads
/// included, a collector elsewhere not.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // The kernel's USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// CPU time the whole machine has used (every process, the broker's too), from /proc/stat.
fn machine_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or_default();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Duration::from_millis(busy * 10)
}

/// Calls per second and CPU microseconds per call of one child run.
fn measure(mode: &str, transport: &str, in_flight: usize, endpoint: &str) -> (f64, f64) {
    let receiver_before = cpu_time();
    let machine_before = machine_time();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ENV, format!("{mode} {transport} {in_flight} {endpoint}"))
        .output()
        .expect("the bench re-runs itself");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receiver = cpu_time() - receiver_before;
    let machine = machine_time() - machine_before;
    let (rate, cpu): (f64, f64) = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RATE "))
        .and_then(|r| {
            let (rate, cpu) = r.split_once(' ')?;
            Some((rate.parse().ok()?, cpu.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no rate in {stdout}"));
    if std::env::var_os("BENCH_RECEIVER").is_some() {
        // Over the child's whole life (warm-up included), so an upper bound.
        let calls = rate * seconds();
        println!(
            "  (receiver: {:.1} µs CPU per call; the whole machine, broker included: {:.1})",
            receiver.as_secs_f64() / calls * 1e6,
            machine.as_secs_f64() / calls * 1e6,
        );
    }
    (rate, cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(spec) = std::env::var(ENV) {
        let parts: Vec<&str> = spec.split(' ').collect();
        let [mode, transport, in_flight, endpoint] = parts[..] else {
            panic!("{ENV}={spec}");
        };
        rt.block_on(child(
            mode,
            transport,
            in_flight.parse().unwrap(),
            endpoint.to_owned(),
        ));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // The receiver runs here, on its own threads, for every "on" child.
    let receiver = rt.block_on(OtlpReceiver::counting());
    let endpoint = receiver.endpoint();
    println!(
        "telemetry overhead: calls/s, median of {rounds} interleaved rounds of {}s",
        seconds()
    );
    if let Ok(modes) = std::env::var("BENCH_PARTS") {
        // Which part costs what: each alone, 64 in flight, in memory (or BENCH_TRANSPORT).
        let transport = std::env::var("BENCH_TRANSPORT").unwrap_or_else(|_| "memory".into());
        for mode in modes.split(',') {
            let (rate, cpu) = measure(mode, &transport, 64, &endpoint);
            println!("{mode:<24} {rate:>9.0} calls/s {cpu:>8.1} µs CPU per call");
        }
        return;
    }
    println!(
        "{:<24} {:>9} {:>9} {:>7}   {:>15} {:>6}",
        "", "off", "on", "on/off", "CPU µs/call off", "on"
    );
    for transport in ["memory", "amqp"] {
        for in_flight in [1, 64] {
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                off.push(measure("off", transport, in_flight, &endpoint));
                on.push(measure("on", transport, in_flight, &endpoint));
            }
            let rate = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.0).collect());
            let cpu = |runs: &[(f64, f64)]| median(runs.iter().map(|r| r.1).collect());
            println!(
                "{:<24} {:>9.0} {:>9.0} {:>6.1}%   {:>15.1} {:>6.1}",
                format!("{transport}, {in_flight} in flight"),
                rate(&off),
                rate(&on),
                rate(&on) / rate(&off) * 100.0,
                cpu(&off),
                cpu(&on),
            );
            if transport == "memory" {
                let floor: Vec<_> = (0..rounds)
                    .map(|_| measure("sdk", transport, in_flight, &endpoint))
                    .collect();
                // Were calls to cost only their own CPU plus the floor's, on/off would be
                // off / (off + floor) at best.
                println!(
                    "{:<24} {:>9.0} {:>9} {:>6.1}%   {:>15} {:>6.1}   (SDK alone: two spans a call; best on/off)",
                    format!("  sdk, {in_flight} in flight"),
                    rate(&floor),
                    "",
                    cpu(&off) / (cpu(&off) + cpu(&floor)) * 100.0,
                    "",
                    cpu(&floor),
                );
            }
        }
    }
    println!("spans received: {}", receiver.count());
}
