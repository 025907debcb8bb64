//! Compile tests of `#[weft::actor]`: what it accepts (`tests/ui/pass`) and the errors it gives
//! (`tests/ui/fail`, with `.stderr` snapshots; regenerate with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
