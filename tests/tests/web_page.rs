//! The dashboard page's logic (URL state, graph folding, formatting) under
//! node's test runner; the page itself in a browser is tested on the lab in
//! lab_pipeline.rs. Needs the page's npm packages (`scripts/install-deps
//! test` installs them).

#[test]
fn page_unit_tests() {
    eastwest_tests::browser::run_unit_tests().unwrap();
}
