//! Timers on a paused tokio clock: the schedule, no overlapping runs, failures and panics
//! survived, a call context per run, and a graceful stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts_core::{MemoryBroker, RunningServices, ServiceRunner, Timer, wire::context};
use tokio::sync::mpsc;
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_secs(10);

/// The timers running on a runner of their own (an in-memory broker: timers need none).
async fn run(timers: impl IntoIterator<Item = Timer>) -> RunningServices {
    timers
        .into_iter()
        .fold(
            ServiceRunner::new(MemoryBroker::shared()),
            ServiceRunner::timer,
        )
        .start()
        .await
        .unwrap()
}

/// The seconds since `start` at which each of the next `n` runs began.
async fn starts(runs: &mut mpsc::UnboundedReceiver<Instant>, start: Instant, n: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let at = runs.recv().await.expect("the timer runs");
        seen.push((at - start).as_secs());
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn ticks_keep_their_schedule_never_overlap_and_skip_what_a_long_run_covered() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let running_now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));
    let timer = {
        let (running_now, most, count) = (running_now.clone(), most.clone(), count.clone());
        Timer::every("reports", "flush", INTERVAL, move || {
            let (tx, running_now, most) = (tx.clone(), running_now.clone(), most.clone());
            let first = count.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let _ = tx.send(Instant::now());
                let now = running_now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // The first run outlasts its interval by half.
                let took = if first {
                    INTERVAL * 3 / 2
                } else {
                    Duration::from_secs(1)
                };
                tokio::time::sleep(took).await;
                running_now.fetch_sub(1, Ordering::SeqCst);
            }
        })
    };
    let start = Instant::now();
    let running = run([timer]).await;
    // 10: the first tick; it runs to 25, so the tick at 20 is skipped; then 30, 40, 50.
    assert_eq!(starts(&mut runs, start, 4).await, vec![10, 30, 40, 50]);
    assert_eq!(most.load(Ordering::SeqCst), 1, "runs never overlap");
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_eager_timer_runs_at_once() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let timer = Timer::every("reports", "flush", INTERVAL, move || {
        let _ = tx.send(Instant::now());
        async {}
    })
    .eager();
    let start = Instant::now();
    let running = run([timer]).await;
    assert_eq!(starts(&mut runs, start, 3).await, vec![0, 10, 20]);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_or_panicking_run_is_logged_and_the_timer_goes_on() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let timer = Timer::every("reports", "flush", INTERVAL, move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let tx = tx.clone();
        async move {
            let _ = tx.send(Instant::now());
            match n {
                0 => Err("the store is down"),
                1 => panic!("a bug"),
                _ => Ok(()),
            }
        }
    });
    let start = Instant::now();
    let running = run([timer]).await;
    assert_eq!(starts(&mut runs, start, 3).await, vec![10, 20, 30]);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn each_run_has_a_call_context_of_its_own() {
    let (tx, mut ids) = mpsc::unbounded_channel();
    let timer = Timer::every("reports", "flush", INTERVAL, move || {
        let id = context::with_current(|ctx| {
            (ctx.call_id().map(str::to_owned), ctx.call_id_stack().len())
        });
        let _ = tx.send(id);
        async {}
    });
    let running = run([timer]).await;
    let first = ids.recv().await.unwrap().expect("inside a call context");
    let second = ids.recv().await.unwrap().expect("inside a call context");
    for (id, stack) in [&first, &second] {
        let id = id.as_deref().expect("a call id");
        assert!(id.starts_with("reports.flush."), "{id}");
        assert_eq!(*stack, 1, "a run starts a call stack of its own");
    }
    assert_ne!(first.0, second.0);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_lets_the_run_in_progress_finish_and_takes_no_new_tick() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let finished = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));
    let timer = {
        let (finished, count) = (finished.clone(), count.clone());
        Timer::every("reports", "flush", Duration::from_secs(1), move || {
            count.fetch_add(1, Ordering::SeqCst);
            let (tx, finished) = (tx.clone(), finished.clone());
            async move {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_secs(5)).await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let running = run([timer]).await;
    started.recv().await.unwrap();
    running.stop().await;
    assert_eq!(finished.load(Ordering::SeqCst), 1, "the run finished first");
    // Stopped: however long the clock runs on, no tick comes.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn runs_take_a_worker_of_their_service() {
    // One worker: two timers of the service take turns.
    let (tx, mut runs) = mpsc::unbounded_channel();
    let timer = |name: &str| {
        let tx = tx.clone();
        Timer::every("reports", name, Duration::from_secs(60), move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
        .eager()
    };
    let start = Instant::now();
    let running = ServiceRunner::new(MemoryBroker::shared())
        .max_workers(1)
        .timer(timer("a"))
        .timer(timer("b"))
        .start()
        .await
        .unwrap();
    assert_eq!(starts(&mut runs, start, 2).await, vec![0, 5]);
    running.stop().await;
}
