use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn new(&self) -> String;

    #[event]
    fn contract(payload: String);
}

fn main() {}
