use contracts_core::prelude::*;

#[service(name = "source")]
pub trait Source {
    #[event]
    fn happened(event: u32);
}

#[service(name = "listener")]
pub trait Listener {
    // Not async.
    #[handles(SourceContract::happened)]
    fn on_sync(&self, event: u32);

    // Replies to nobody.
    #[handles(SourceContract::happened)]
    async fn on_value(&self, event: u32) -> u32;

    // Two payloads.
    #[handles(SourceContract::happened)]
    async fn on_two(&self, event: u32, extra: u32);

    // Not a path to an event.
    #[handles(happened)]
    async fn on_bare(&self, event: u32);

    // Both published and handled.
    #[event]
    #[handles(SourceContract::happened)]
    fn both(event: u32);
}

fn main() {}
