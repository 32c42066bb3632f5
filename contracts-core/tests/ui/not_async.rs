use contracts_core::service;

#[service(name = "svc")]
pub trait Svc {
    fn hello(&self, name: String) -> String;
}

fn main() {}
