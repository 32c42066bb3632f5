//! Turn a panic inside a handler's future into a value, so one bad call cannot take the
//! service down.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Poll `fut` to completion; a panic while polling becomes `Err(message)`.
pub(crate) async fn catch_panic<F: Future>(fut: F) -> Result<F::Output, String> {
    CatchPanic { fut: Box::pin(fut) }.await
}

struct CatchPanic<F> {
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The future is dropped right after a panic and never polled again, so state it may
        // have left half-updated is never observed: asserting unwind safety is sound.
        match catch_unwind(AssertUnwindSafe(|| self.fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "handler panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_become_errors() {
        assert_eq!(catch_panic(async { 1 }).await, Ok(1));
        let caught = catch_panic(async {
            tokio::task::yield_now().await;
            panic!("boom {}", 7)
        })
        .await;
        assert_eq!(caught, Err("boom 7".to_owned()));
    }
}
