use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn hello(&mut self, name: String) -> String;
}

fn main() {}
