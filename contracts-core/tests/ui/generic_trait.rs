use contracts_core::service;

#[service(name = "svc")]
pub trait Svc<T> {
    async fn hello(&self) -> String;
}

fn main() {}
