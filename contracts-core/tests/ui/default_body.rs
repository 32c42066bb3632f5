use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn hello(&self) -> String {
        String::new()
    }
}

fn main() {}
