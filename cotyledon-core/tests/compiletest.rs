//! UI tests of `#[derive(Service)]`: bad attributes fail with one error each, good ones compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/pass/*.rs");
}
