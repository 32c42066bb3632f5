use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn hello(&self) -> String;

    #[event]
    fn happened(payload: String);
}

fn main() {
    let _declared = SvcContract::happened();
    let _undeclared = SvcContract::never_declared();
}
