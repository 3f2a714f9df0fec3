//! The native command line: `info` reports the adapter, bad arguments are clear errors.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_style-transfer"))
}

#[test]
fn info_reports_the_adapter_and_its_limits() {
    let out = cli().arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("adapter:") && text.contains("backend:"),
        "{text}"
    );
    assert!(text.contains("maxStorageBufferBindingSize"), "{text}");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = cli().arg("paint").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

#[test]
fn no_adapter_is_an_error_not_a_panic() {
    // A backend that does not exist on this machine: the CLI must say what to install.
    let out = cli()
        .arg("info")
        .env("WGPU_BACKEND", "metal")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no GPU adapter found") && err.contains("mesa-vulkan-drivers"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
