//! Stopping on SIGTERM or SIGINT the way a deployment expects: the first signal starts a
//! graceful stop, a second one ends the process at once.

/// What asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: what orchestrators send.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

/// Exit code after a second signal cut a graceful stop short (128 + SIGINT, as shells do).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Wait for the first SIGTERM or SIGINT. From then on, a second one of either exits the
/// process at once with [`FORCED_EXIT_CODE`], abandoning calls in flight (the broker
/// redelivers their unacknowledged requests).
///
/// Use it to drive a graceful stop:
///
/// ```no_run
/// # async fn run(running: contracts_core::server::RunningServices) {
/// let signal = contracts_amqp::shutdown_signal().await;
/// tracing::info!(?signal, "stopping: finishing calls in flight");
/// running.stop().await;
/// # }
/// ```
pub async fn shutdown_signal() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install the SIGINT handler");
    let first = tokio::select! {
        _ = term.recv() => Signal::Terminate,
        _ = int.recv() => Signal::Interrupt,
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::warn!("second signal: exiting without waiting for calls in flight");
        eprintln!("second signal: exiting now");
        std::process::exit(FORCED_EXIT_CODE);
    });
    first
}
