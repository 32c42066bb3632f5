use contracts_core::service;

#[service(name = "user.service")]
pub trait Dotted {
    async fn hello(&self) -> String;
}

#[service(name = "users*")]
pub trait Wildcard {
    async fn hello(&self) -> String;
}

#[service(name = "user service")]
pub trait Spaced {
    async fn hello(&self) -> String;
}

fn main() {}
