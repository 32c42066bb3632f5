use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn new(&self) -> String;

    /// The generated client has its own `with_timeout` (a per-call deadline).
    async fn with_timeout(&self, seconds: u32) -> String;

    #[event]
    fn contract(payload: String);

    #[event]
    fn with_validation(payload: String);
}

fn main() {}
