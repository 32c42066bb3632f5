use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn add(&self, (a, b): (i64, i64)) -> i64;
}

fn main() {}
