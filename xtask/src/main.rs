//! xtask (stub).
fn main() {}
