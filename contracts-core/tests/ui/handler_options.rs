use contracts_core::prelude::*;

#[service(name = "source")]
pub trait Source {
    #[event]
    fn happened(event: u32);
}

#[service(name = "listener")]
pub trait Listener {
    #[handles(SourceContract::happened, handler_type = "fanout")]
    async fn on_unknown_type(&self, event: u32);

    // Nameko refuses a reliable broadcast with a fresh identifier per start.
    #[handles(SourceContract::happened, handler_type = "broadcast")]
    async fn on_broadcast(&self, event: u32);

    #[handles(SourceContract::happened, requeue_on_error = true)]
    async fn on_unknown_key(&self, event: u32);
}

fn main() {}
