//! The suite is one binary (`autotests = false` in Cargo.toml), so a test file
//! that `tests/main.rs` does not name would never be compiled or run.
use crate::support;

use std::collections::BTreeSet;

#[test]
fn every_test_file_is_a_module_of_the_suite() {
    let tests = support::repo_root().join("tests");
    let files: BTreeSet<String> = std::fs::read_dir(&tests)
        .expect("tests/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .filter(|name| name != "main")
        .collect();
    let main = std::fs::read_to_string(tests.join("main.rs")).expect("tests/main.rs");
    let modules: BTreeSet<String> = main
        .lines()
        .filter_map(|line| line.strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = files.difference(&modules).collect();
    assert!(
        missing.is_empty(),
        "test files tests/main.rs does not name: {missing:?}"
    );
    assert!(modules.contains("support"), "the shared support module");
}
