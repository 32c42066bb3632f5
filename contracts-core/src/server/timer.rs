//! Periodic work on a service's runner: Nameko's `@timer(interval)`.
//!
//! A [`Timer`] runs its work every `interval` on the service's worker pool, in a call context
//! of its own (call id `<service>.<timer>.<uuid>`), observed like a call (a span and metrics
//! through the process's observer). The next run waits for the previous one: runs never
//! overlap. Ticks keep to the schedule `start + n × interval`; a run that outlasts its
//! interval makes the ticks it covered be skipped, not fired in a burst afterwards (Nameko
//! fires them back to back). A run that fails or panics is logged and the timer goes on. On
//! [`crate::RunningServices::stop`] a timer takes no new tick and lets a run in progress
//! finish.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::catch_panic::catch_panic;
use crate::observe::{self, Tick, TickOutcome};
use crate::transport::BoxFuture;
use crate::wire::context::{self, CallContext};

type Work = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A piece of periodic work of a service: add it with [`crate::ServiceRunner::timer`].
///
/// ```
/// use std::time::Duration;
/// use contracts_core::Timer;
///
/// let timer = Timer::every("reports", "flush", Duration::from_secs(60), || async {
///     // ... the work; return `()` or a `Result` whose error is logged
/// });
/// assert_eq!(timer.name(), "flush");
/// ```
#[derive(Clone)]
pub struct Timer {
    service: Arc<str>,
    name: Arc<str>,
    interval: Duration,
    eager: bool,
    work: Work,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("service", &self.service)
            .field("name", &self.name)
            .field("interval", &self.interval)
            .field("eager", &self.eager)
            .finish_non_exhaustive()
    }
}

/// What a timer's work may return: nothing, or a `Result` whose error is logged.
pub trait TickResult {
    /// `Err` with the failure's text if the run failed.
    fn into_outcome(self) -> Result<(), String>;
}

impl TickResult for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> TickResult for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

impl Timer {
    /// Run `work` every `interval` (at least 1 ms) for `service`, the first time one interval
    /// after the service starts (see [`Timer::eager`]). `name` names it in call ids, logs,
    /// spans and metrics, as a method name does.
    pub fn every<F, Fut>(service: &str, name: &str, interval: Duration, work: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: TickResult,
    {
        let work: Work = Arc::new(move || {
            let run = work();
            Box::pin(async move { run.await.into_outcome() })
        });
        Self {
            service: service.into(),
            name: name.into(),
            interval: interval.max(Duration::from_millis(1)),
            eager: false,
            work,
        }
    }

    /// Run the first time as soon as the service starts (Nameko's `eager=True`).
    #[must_use]
    pub fn eager(mut self) -> Self {
        self.eager = true;
        self
    }

    /// The service it belongs to.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tick until `stop` turns true, each run holding a permit of the service's `pool`.
    /// Returns the timer's name once stopped, after the run in progress, if any, ended.
    pub(crate) async fn run(self, pool: Arc<Semaphore>, mut stop: watch::Receiver<bool>) -> String {
        let mut next = if self.eager {
            Instant::now()
        } else {
            Instant::now() + self.interval
        };
        let mut stopped = std::pin::pin!(stop.wait_for(|stop| *stop));
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                () = tokio::time::sleep_until(next) => {}
            }
            let Ok(permit) = pool.clone().acquire_owned().await else {
                break;
            };
            self.tick().await;
            drop(permit);
            next = self.after(next, Instant::now());
        }
        format!("timer {}.{}", self.service, self.name)
    }

    /// The tick after the one at `tick`, seen at `now`: the next on the schedule that is not
    /// past yet.
    fn after(&self, tick: Instant, now: Instant) -> Instant {
        let next = tick + self.interval;
        if next >= now {
            return next;
        }
        let covered = (now - next).as_nanos() / self.interval.as_nanos() + 1;
        next + self.interval * u32::try_from(covered).unwrap_or(u32::MAX)
    }

    /// One run, in its own call context, observed.
    async fn tick(&self) -> TickOutcome {
        let ctx = CallContext::for_worker(&Default::default(), &self.service, &self.name);
        let run = context::scope(ctx, self.run_once());
        match observe::current() {
            None => run.await,
            Some(observer) => {
                let observation = observer.tick(&Tick {
                    service: &self.service,
                    timer: &self.name,
                });
                observe::observed(observation, run, |outcome| *outcome).await
            }
        }
    }

    async fn run_once(&self) -> TickOutcome {
        let (service, timer) = (&*self.service, &*self.name);
        match catch_panic((self.work)()).await {
            Ok(Ok(())) => TickOutcome::Ok,
            Ok(Err(reason)) => {
                tracing::error!(service, timer, reason, "timer run failed");
                TickOutcome::Failed
            }
            Err(panic) => {
                tracing::error!(service, timer, panic, "timer run panicked");
                TickOutcome::Failed
            }
        }
    }
}
