use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    async fn login(&self, #[sensitive(always)] password: String) -> bool;
}

fn main() {}
