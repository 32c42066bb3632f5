//! Misuse of `#[service]` fails to compile with an error at the offending tokens.
//! Snapshots are for the pinned toolchain (rust-toolchain.toml); re-bless with
//! `TRYBUILD=overwrite cargo test -p contracts-core --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
