use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn hello(&self, #[serde(rename = "who")] name: String) -> String;
}

fn main() {}
