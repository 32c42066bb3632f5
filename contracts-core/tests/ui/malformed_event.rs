use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    #[event]
    async fn happened(payload: String);

    #[event]
    fn twice(a: String, b: String);

    #[event(durable)]
    fn with_args(payload: String);
}

fn main() {}
