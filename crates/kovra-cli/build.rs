//! Puts the git commit into `kovra --version` (`0.1.0 (commit abc1234+dirty)`), so a bug
//! report names the exact source, and links the front program with its hot code first.
//! Outside a git checkout (a crate tarball, a kit copy) the version is the package version
//! alone. Reruns only when HEAD, the branch it points to, the index, a crate's sources or the
//! linker script change, so an ordinary build does not pay for it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let full = match commit() {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version.to_string(),
    };
    println!("cargo:rustc-env=KOVRA_VERSION={full}");
    hot_code_first();
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

/// On Linux, link the `kovra` front program with `front-hot.ld` (made by
/// `scripts/front-hot.sh`): the functions its `run`, `status` and `list` execute, placed
/// together, so a start faults in a few windows of the image rather than in most of them.
/// Its patterns name functions in the v0 mangling the musl build uses (.cargo/config.toml);
/// in another build they match nothing and the layout is the linker's own.
fn hot_code_first() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = Path::new(&manifest).join("front-hot.ld");
    // One argument each, whatever the path holds (`-Wl,` would split it at a comma).
    for arg in ["-Xlinker", "-T", "-Xlinker"] {
        println!("cargo:rustc-link-arg-bin=kovra={arg}");
    }
    println!("cargo:rustc-link-arg-bin=kovra={}", script.display());
    println!("cargo:rerun-if-changed=front-hot.ld");
}
