use contracts_core::service;

#[service]
pub trait Svc {
    async fn hello(&self) -> String;
}

fn main() {}
