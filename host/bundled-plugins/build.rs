//! Builds the bundled guest plugins (and the hostile test guest) for
//! `wasm32-wasip2` with a nested `cargo build`, then copies the components into
//! `OUT_DIR` for `include_bytes!`.
//!
//! The nested build uses its own target directory, `<host target dir>/wasm-plugins`,
//! so it never contends for the host build's lock and is shared by every host
//! profile. The environment is cleaned the way wasmtime's
//! `crates/test-programs/artifacts/build.rs` does it: host-only flags and
//! wrappers must not leak into a wasm build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, file stem in OUT_DIR)
const PLUGINS: &[(&str, &str)] = &[
    ("dialsync-plugin-servicenow", "servicenow"),
    ("dialsync-plugin-salesforce", "salesforce"),
    ("dialsync-plugin-custom-crm", "custom-crm"),
    ("dialsync-plugin-hostile", "hostile"),
];

const TARGET: &str = "wasm32-wasip2";

/// The guests' own compiler flags. LLVM's inliner is told to inline far more
/// than its default (225): in wasm every call that stays a call costs more
/// than natively (an epoch-deadline check at each function entry, and
/// Cranelift's calling convention). The bundled plugins' mapping calls were
/// 12–16 % faster for components 20–28 % larger; the same flag on the native
/// twins gained 7–10 % (interleaved A/B in one process; see docs/plugins.md).
/// Cargo profiles cannot carry rustflags on stable, so they are set here.
const GUEST_RUSTFLAGS: &str = "-Cllvm-args=-inline-threshold=2500";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("host/bundled-plugins sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("plugins").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    // The guest profile (`[profile.plugin]`) lives in the workspace manifest.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-changed=build.rs");

    check_target_installed();

    let wasm_target_dir = host_target_dir(&out_dir)
        .unwrap_or_else(|| out_dir.clone())
        .join("wasm-plugins");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .arg("build")
        .arg("--target")
        .arg(TARGET)
        .arg("--profile")
        .arg("plugin")
        .arg("--target-dir")
        .arg(&wasm_target_dir);
    for (package, _) in PLUGINS {
        cmd.arg("-p").arg(package);
    }
    // Host flags (e.g. -Ctarget-cpu=native) and wrappers (clippy-driver under
    // `cargo clippy`) are meant for the host build only.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "__CARGO_FIX_PLZ",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", GUEST_RUSTFLAGS);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run the nested `cargo build` for the plugins: {e}"));
    if !status.success() {
        panic!("building the plugins for {TARGET} failed ({status}); see the cargo output above");
    }

    let artifacts = wasm_target_dir.join(TARGET).join("plugin");
    for (package, stem) in PLUGINS {
        let built = artifacts.join(format!("{}.wasm", package.replace('-', "_")));
        let dest = out_dir.join(format!("{stem}.wasm"));
        std::fs::copy(&built, &dest)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", built.display(), dest.display()));
    }
}

/// Fails the build with the fix when the wasm32-wasip2 standard library is missing.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(sysroot) = sysroot
        && !sysroot.join("lib/rustlib").join(TARGET).exists()
    {
        panic!(
            "the {TARGET} target is not installed for {}: run `rustup target add {TARGET}`",
            sysroot.display()
        );
    }
}

/// The host build's target directory: the nearest ancestor of OUT_DIR that
/// cargo marked with `CACHEDIR.TAG`.
fn host_target_dir(out_dir: &Path) -> Option<PathBuf> {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
}
