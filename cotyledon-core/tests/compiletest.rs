//! UI tests: bad `#[derive(Service)]` attributes fail with one error each, a type
//! missing the derive or `impl Service` gets a message naming the missing one, and
//! good services compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
