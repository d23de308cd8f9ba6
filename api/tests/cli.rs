//! The `confer-api` binary's command line. (Also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` start.)

use std::process::Command;

#[test]
fn help_lists_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_confer-api")).arg("--help").output().expect("run confer-api");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for cmd in ["serve", "migrate", "rebuild-projections", "ensure-tenant"] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }
}

#[test]
fn serving_without_a_master_key_fails_with_a_clear_message() {
    // The database URL points nowhere: the key must be checked first.
    let out = Command::new(env!("CARGO_BIN_EXE_confer-api"))
        .env_remove("CONFER_MASTER_KEY")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .output()
        .expect("run confer-api");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CONFER_MASTER_KEY is not set"), "the missing key is named, before any database work: {err}");
}

#[test]
fn serving_with_a_malformed_master_key_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_confer-api"))
        .env("CONFER_MASTER_KEY", "too-short")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .output()
        .expect("run confer-api");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CONFER_MASTER_KEY must be 32 bytes"), "{err}");
}
