//! The executable a run starts, opened once. It is resolved the way a shell would, opened,
//! hashed from that open descriptor, and later executed through the same descriptor
//! (`/proc/self/fd/N`, which is what `fexecve` does), so a symlink re-pointed or a path
//! swapped after the check never changes what runs.

use kovra_proto::ErrorCode;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::GateError;
use crate::nsjoin::{Foreign, Namespaces};

/// One opened executable.
#[derive(Debug)]
pub struct Program {
    /// Where it was found (as the caller named it, resolved against cwd and PATH).
    pub path: PathBuf,
    /// The same file with every symlink resolved, as the allowlist names it.
    pub canonical: PathBuf,
    pub file: File,
    /// Hex SHA-256 of the content read through `file`.
    pub sha256: String,
    /// Whether the user (and so an agent running as them) could rewrite it.
    pub user_writable: bool,
    /// Arguments naming files the user could rewrite (a script given to an interpreter),
    /// with their SHA-256 when the run was checked: what the program will read is part of
    /// what an approval covers.
    pub inputs: Vec<(String, String)>,
}

/// The executable of a run request, checked in the order the caller's mistakes are
/// reported: no command, a bad working directory, then the program itself. For a caller in
/// other namespaces than the daemon's, every path is looked up inside its root, as it sees
/// it (`crate::nsjoin`).
pub fn for_run(
    run: &kovra_proto::RunRequest,
    namespaces: &Namespaces,
) -> Result<Program, GateError> {
    let Some(arg0) = run.argv.first() else {
        return Err(GateError::new(ErrorCode::Usage, "no command given")
            .hint("kovra run [OPTIONS] -- COMMAND [ARGS]"));
    };
    let view = match namespaces {
        Namespaces::Own => View::Own,
        Namespaces::Foreign(foreign) => View::Inside(foreign),
        // Started in the daemon's namespaces, the run might leave the caller's sandbox.
        Namespaces::Unreadable(why) => {
            return Err(GateError::new(
                ErrorCode::RunFailed,
                format!("cannot tell which namespaces the caller lives in ({why}), and a run starts only where its caller lives"),
            )
            .hint("run kovra from a process of your own that the daemon can look at (docs/protocol.md §11.1)"));
        }
    };
    let cwd = Path::new(&run.cwd);
    if !cwd.is_absolute() || !view.is_dir(cwd) {
        return Err(GateError::new(
            ErrorCode::CwdInvalid,
            format!("working directory {} does not exist", run.cwd),
        ));
    }
    let path_var = run
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let path = resolve(arg0, cwd, path_var, view)?;
    let mut program = open_found(&path, arg0, view)?;
    program.inputs = writable_inputs(&run.argv[1..], cwd, view);
    Ok(program)
}

/// Where a run's paths are looked up: the daemon's own file system, or beneath the root of
/// a caller in other namespaces.
#[derive(Clone, Copy)]
enum View<'a> {
    Own,
    Inside(&'a Foreign),
}

impl View<'_> {
    fn open(self, path: &Path) -> std::io::Result<File> {
        match self {
            View::Own => File::open(path),
            View::Inside(foreign) => foreign.open(path),
        }
    }

    fn is_dir(self, path: &Path) -> bool {
        match self {
            View::Own => path.is_dir(),
            View::Inside(foreign) => foreign.is_dir(path),
        }
    }

    fn is_file(self, path: &Path) -> bool {
        match self {
            View::Own => path.is_file(),
            View::Inside(foreign) => foreign.is_file(path),
        }
    }

    /// The file with every symlink resolved, as the allowlist names it. Inside a foreign
    /// caller's root the path stays as found: such a caller is never allowlisted, and the
    /// daemon's own resolution would name another file.
    fn canonical(self, path: &Path) -> PathBuf {
        match self {
            View::Own => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            View::Inside(_) => path.to_path_buf(),
        }
    }

    /// Whether the user could rewrite the file (`writable_by_us`). Inside a foreign root
    /// the daemon cannot ask `access` about the path, so owner and mode decide.
    fn writable(self, meta: &std::fs::Metadata, canonical: &Path) -> bool {
        match self {
            View::Own => writable_by_us(meta, Some(canonical)),
            View::Inside(_) => writable_by_us(meta, None),
        }
    }
}

/// The largest argument file hashed; a bigger one is not a script.
const INPUT_MAX: u64 = 16 * 1024 * 1024;

fn writable_inputs(args: &[String], cwd: &Path, view: View<'_>) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|arg| {
            let file = view.open(&cwd.join(arg)).ok()?;
            let meta = file.metadata().ok()?;
            if !meta.is_file() || meta.len() > INPUT_MAX {
                return None;
            }
            let canonical = match view {
                View::Own => cwd.join(arg).canonicalize().ok()?,
                View::Inside(_) => cwd.join(arg),
            };
            if !view.writable(&meta, &canonical) {
                return None;
            }
            Some((arg.clone(), hash_cached(&file, &meta).ok()?))
        })
        .collect()
}

/// Find `arg0` as a shell would (a path with `/` relative to `cwd`, a bare name in
/// `path_var`), open it and hash it.
pub fn open(arg0: &str, cwd: &Path, path_var: Option<&str>) -> Result<Program, GateError> {
    let path = resolve(arg0, cwd, path_var, View::Own)?;
    open_found(&path, arg0, View::Own)
}

/// Open and hash a file named directly (the allowlist's `allow add PATH`).
pub fn open_path(path: &Path, shown: &str) -> Result<Program, GateError> {
    open_found(path, shown, View::Own)
}

fn open_found(path: &Path, shown: &str, view: View<'_>) -> Result<Program, GateError> {
    let file = view.open(path).map_err(|_| {
        GateError::new(
            ErrorCode::CommandNotFound,
            format!("`{shown}`: no such file"),
        )
        .hint("check the path")
    })?;
    let meta = file.metadata().map_err(|e| {
        GateError::new(ErrorCode::NotExecutable, format!("`{shown}`: {e}")).hint("check the path")
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(GateError::new(
            ErrorCode::NotExecutable,
            format!("`{}` is not an executable file", path.display()),
        )
        .hint("chmod +x it, or run it through its interpreter (`kovra run -- sh script.sh`)"));
    }
    let sha256 = hash_cached(&file, &meta).map_err(|e| {
        GateError::new(
            ErrorCode::NotExecutable,
            format!("cannot read {}: {e}", path.display()),
        )
        .hint("check the file's permissions")
    })?;
    let canonical = view.canonical(path);
    let user_writable = view.writable(&meta, &canonical);
    Ok(Program {
        path: path.to_path_buf(),
        canonical,
        file,
        sha256,
        user_writable,
        inputs: Vec::new(),
    })
}

impl Program {
    /// What the digest and a challenge carry for this run: the executable's SHA-256, then
    /// `;ARG=SHA-256` for each argument file the user could rewrite.
    pub fn fingerprint(&self) -> String {
        let mut out = self.sha256.clone();
        for (arg, sha) in &self.inputs {
            out.push_str(&format!(";{arg}={sha}"));
        }
        out
    }

    /// For a file the user can rewrite in place: replace `file` with a sealed in-memory copy
    /// whose content must hash to what was checked, so the bytes that run are exactly the
    /// bytes that were approved, however long after the check the exec comes. A file
    /// rewritten since the check is refused.
    pub fn seal(&mut self) -> Result<(), GateError> {
        if !self.user_writable {
            return Ok(());
        }
        let failed = |e: std::io::Error| {
            GateError::new(
                ErrorCode::RunFailed,
                format!(
                    "could not take a sealed copy of {}: {e}",
                    self.path.display()
                ),
            )
            .hint("check the file, or run it through its interpreter")
        };
        let copy = sealed_copy(&self.file).map_err(failed)?;
        let sha256 = sha256_of(&copy).map_err(failed)?;
        if sha256 != self.sha256 {
            return Err(GateError::new(
                ErrorCode::ExecutableChanged,
                format!(
                    "{} changed after it was checked (sha256 {} then, {sha256} now)",
                    self.path.display(),
                    self.sha256
                ),
            )
            .hint("nothing ran; run the command again and check what you approve"));
        }
        self.file = copy;
        Ok(())
    }
}

/// A memfd holding the file's content, sealed against any further change.
fn sealed_copy(file: &File) -> std::io::Result<File> {
    use nix::fcntl::{FcntlArg, SealFlag, fcntl};
    use nix::sys::memfd::{MFdFlags, memfd_create};
    use std::io::{Seek, SeekFrom};
    let fd = memfd_create(
        c"kovra-run",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut copy = File::from(fd);
    let mut source = file.try_clone()?;
    source.seek(SeekFrom::Start(0))?;
    std::io::copy(&mut source, &mut copy)?;
    fcntl(
        &copy,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    copy.seek(SeekFrom::Start(0))?;
    Ok(copy)
}

fn resolve(
    arg0: &str,
    cwd: &Path,
    path_var: Option<&str>,
    view: View<'_>,
) -> Result<PathBuf, GateError> {
    if arg0.contains('/') {
        return Ok(cwd.join(arg0));
    }
    for dir in path_var
        .unwrap_or("/usr/local/bin:/usr/bin:/bin")
        .split(':')
    {
        let dir = if dir.is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let candidate = dir.join(arg0);
        if view.is_file(&candidate) {
            return Ok(candidate);
        }
    }
    Err(GateError::new(
        ErrorCode::CommandNotFound,
        format!("`{arg0}`: command not found in PATH"),
    )
    .hint("check the spelling, or give a path"))
}

/// What identifies one content of one file: the kernel changes `ctime` on every write to
/// the inode (and no unprivileged process can set it back), so an unchanged key means
/// unchanged content.
type ContentKey = (u64, u64, u64, i64, i64, i64, i64);

fn content_key(meta: &std::fs::Metadata) -> ContentKey {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// Hashing a large interpreter on every run would dominate the run's start-up, so hashes
/// are remembered by `ContentKey`, and only when the key did not change while hashing.
fn hash_cached(file: &File, before: &std::fs::Metadata) -> std::io::Result<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<ContentKey, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = content_key(before);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(hit);
    }
    let sha = sha256_of(file)?;
    if content_key(&file.metadata()?) == key
        && let Ok(mut c) = cache.lock()
    {
        if c.len() >= 512 {
            c.clear();
        }
        c.insert(key, sha.clone());
    }
    Ok(sha)
}

fn sha256_of(mut file: &File) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Whether this user could change the file's content in place (between a hash and an
/// exec): it owns it (and so can chmod it) or its mode lets it write, or (given its path)
/// `access` says it may. Replacing the file by another name changes the hash and is caught
/// anyway. Root is judged by owner and mode bits alone, as it could write anything.
fn writable_by_us(meta: &std::fs::Metadata, canonical: Option<&Path>) -> bool {
    let uid = nix::unistd::geteuid().as_raw();
    let by_mode = meta.permissions().mode() & 0o022 != 0;
    if uid == 0 {
        return by_mode;
    }
    meta.uid() == uid
        || by_mode
        || canonical.is_some_and(|p| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_sealed_copy_runs_the_checked_bytes_and_refuses_a_changed_file() {
        let dir = std::env::temp_dir().join(format!("kovra-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tool.sh");
        std::fs::write(&path, "#!/bin/sh\necho sealed-ok\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut program = open_path(&path, "tool.sh").unwrap();
        program.user_writable = true;
        program.seal().unwrap();
        // The copy cannot be written, and it is what runs.
        assert!((&program.file).write_all(b"x").is_err());
        let out = crate::os::command_for_descriptor(&program.file)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "sealed-ok\n");
        // A file rewritten after the check is refused.
        let mut changed = open_path(&path, "tool.sh").unwrap();
        changed.user_writable = true;
        std::fs::write(&path, "#!/bin/sh\necho evil\n").unwrap();
        assert!(changed.seal().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
