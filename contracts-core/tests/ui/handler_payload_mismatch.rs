use contracts_core::prelude::*;

#[service(name = "source")]
pub trait Source {
    #[event]
    fn happened(event: u32);
}

#[service(name = "listener")]
pub trait Listener {
    /// The source publishes a `u32`, not a `String`.
    #[handles(SourceContract::happened)]
    async fn on_happened(&self, event: String);
}

fn main() {}
