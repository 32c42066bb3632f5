//! Channels and what outlives a consumer on them: a consumer's channel stays open until every
//! delivery it handed out is settled (acked or rejected through [`AmqpAcker`]), and channel
//! closes still in flight are waited for when the connection closes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use contracts_core::transport::{Acknowledge, BoxFuture, TransportError};
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicRejectOptions};

use crate::broker_error::closed;

/// Channel closes still in progress, so that closing the connection can wait for them.
#[derive(Clone, Default)]
pub(crate) struct Closing(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Closing {
    pub(crate) fn close_later(&self, channel: Channel) {
        if !channel.status().connected() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let task = runtime.spawn(async move {
                let _ = channel.close(200, "done".into()).await;
            });
            let mut tasks = self.0.lock().expect("closing lock");
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    pub(crate) async fn wait(&self) {
        let tasks = std::mem::take(&mut *self.0.lock().expect("closing lock"));
        for task in tasks {
            // A channel of a connection that is gone never answers its close.
            let _ = tokio::time::timeout(SETTLE_TIMEOUT, task).await;
        }
    }
}

/// Closes a consumer's channel once the consumer and every delivery it handed out are gone.
pub(crate) struct ChannelGuard(pub(crate) Channel, pub(crate) Closing);

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        self.1.close_later(self.0.clone());
    }
}

/// Settles one delivery on its consumer's channel.
pub(crate) struct AmqpAcker {
    acker: Option<lapin::Acker>,
    /// A consumer's channel stays open while its deliveries are unsettled.
    _channel: Option<Arc<ChannelGuard>>,
}

impl AmqpAcker {
    pub(crate) fn new(acker: lapin::Acker, channel: Option<Arc<ChannelGuard>>) -> Self {
        Self {
            acker: Some(acker),
            _channel: channel,
        }
    }

    fn settled(result: Result<bool, TransportError>) -> Result<(), TransportError> {
        match result {
            Ok(true) => Ok(()),
            // A poisoned acker: the channel closed and the broker has requeued the message.
            Ok(false) => Err(TransportError::closed(
                "the delivery's channel closed before it was settled; the broker requeued it",
            )),
            Err(e) => Err(e),
        }
    }
}

/// How long settling a delivery or cancelling a consumer may take. These frames get no answer
/// from the broker; one that cannot even be written within this time is on a connection that
/// is gone, and the broker redelivers (or drops the consumer) by itself.
pub(crate) const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn within<T>(
    what: &str,
    fut: impl std::future::Future<Output = lapin::Result<T>>,
) -> Result<T, TransportError> {
    match tokio::time::timeout(SETTLE_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| closed(&e)),
        Err(_) => Err(TransportError::closed(format!(
            "{what} did not complete within {SETTLE_TIMEOUT:?}: the connection is gone"
        ))),
    }
}

impl Acknowledge for AmqpAcker {
    fn ack(mut self: Box<Self>) -> BoxFuture<'static, Result<(), TransportError>> {
        let acker = self.acker.take().expect("settled once");
        Box::pin(async move {
            let result = within("an ack", acker.ack(BasicAckOptions::default())).await;
            drop(self);
            Self::settled(result)
        })
    }

    fn reject(
        mut self: Box<Self>,
        requeue: bool,
    ) -> BoxFuture<'static, Result<(), TransportError>> {
        let acker = self.acker.take().expect("settled once");
        Box::pin(async move {
            let result = within("a reject", acker.reject(BasicRejectOptions { requeue })).await;
            drop(self);
            Self::settled(result)
        })
    }
}

impl Drop for AmqpAcker {
    fn drop(&mut self) {
        // Dropped unsettled: give the message back now rather than when the channel closes.
        if let Some(acker) = self.acker.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let channel = self._channel.clone();
            runtime.spawn(async move {
                let _ = within(
                    "a reject",
                    acker.reject(BasicRejectOptions { requeue: true }),
                )
                .await;
                drop(channel);
            });
        }
    }
}
