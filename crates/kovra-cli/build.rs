//! Puts the git commit into `kovra --version` (`0.1.0 (commit abc1234+dirty)`), so a bug
//! report names the exact source. Outside a git checkout (a crate tarball, a kit copy) the
//! version is the package version alone. Reruns only when HEAD, the branch it points to, the
//! index or a crate's sources change, so an ordinary build does not pay for it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let full = match commit() {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=KOVRA_VERSION={full}");
    // Without git there is nothing to watch: do not rerun on every change of the package.
    println!("cargo:rerun-if-changed=build.rs");
}

/// The short hash of HEAD, with `+dirty` when tracked files differ from it; None when git or
/// the checkout is missing.
fn commit() -> Option<String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&manifest)
            // `git status` would otherwise refresh (write) the index, which reruns this script.
            .arg("--no-optional-locks")
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let hash = git(&["rev-parse", "--short=7", "HEAD"])?;
    watch(&manifest, &git);
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{hash}+dirty") } else { hash })
}

/// Rerun when the commit or the tracked sources may have changed. A worktree's HEAD and index
/// live in its own git dir, branches in the common one.
fn watch(manifest: &Path, git: &dyn Fn(&[&str]) -> Option<String>) {
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { manifest.join(p) }
    };
    let mut paths = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(abs) {
        paths.push(dir.join("HEAD"));
        paths.push(dir.join("index"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(abs) {
        paths.push(common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            paths.push(common.join(branch));
        }
    }
    // Edits not yet staged: any source the binary is built from (those edits rebuild it anyway).
    if let Some(crates) = manifest.parent() {
        if let Ok(entries) = std::fs::read_dir(crates) {
            for e in entries.flatten() {
                paths.push(e.path().join("src"));
            }
        }
        if let Some(root) = crates.parent() {
            paths.push(root.join("Cargo.toml"));
            paths.push(root.join("Cargo.lock"));
        }
    }
    for p in paths.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
