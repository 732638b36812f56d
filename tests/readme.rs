//! The README shows real files: its excerpts must be the files themselves.

use std::path::Path;

fn repo(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_readme_schedule_is_the_bundled_file() {
    let readme = repo("README.md");
    let file = repo("schedules/acme/collagen-weekly.yaml");
    assert!(
        readme.contains(&format!("```yaml\n{file}```\n")),
        "README.md's schedule example differs from schedules/acme/collagen-weekly.yaml; paste the file"
    );
}

#[test]
fn the_readme_test_command_is_what_ci_runs() {
    let readme = repo("README.md");
    let ci = repo(".ci/run");
    assert!(
        readme.contains("```sh\n./scripts/test.sh\n```"),
        "README.md names ./scripts/test.sh"
    );
    assert!(
        ci.lines().any(|l| l.trim() == "./scripts/test.sh"),
        ".ci/run calls ./scripts/test.sh"
    );
}
