use contracts_core::service;

#[service(name = "svc", exchange = "other")]
pub trait Svc {
    async fn hello(&self) -> String;
}

fn main() {}
