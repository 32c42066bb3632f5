use contracts_core::service;

type Result<T> = std::result::Result<T, String>;

#[service(name = "svc")]
pub trait Svc {
    async fn hello(&self) -> Result<String>;
}

fn main() {}
