//! The dashboard page's logic (URL state, graph folding, formatting) under
//! node's test runner; the page itself in a browser is tested on the lab in
//! lab_pipeline.rs. Needs the dashboard built (its build.rs installs the
//! page's npm packages).

#[test]
fn page_unit_tests() {
    eastwest_tests::browser::run_unit_tests().unwrap();
}
