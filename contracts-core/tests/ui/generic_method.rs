use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn hello<T>(&self, name: T) -> String;
}

fn main() {}
