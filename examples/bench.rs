//! Benchmark scenarios for `cargo xtask bench` (stub, being written).
fn main() {}
