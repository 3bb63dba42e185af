//! The executable a run starts, opened once. It is resolved the way a shell would, opened,
//! hashed from that open descriptor, and later executed through the same descriptor
//! (`/proc/self/fd/N`, which is what `fexecve` does), so a symlink re-pointed or a path
//! swapped after the check never changes what runs.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kovra_proto::{ErrorReply, Response};
use sha2::{Digest, Sha256};

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
}

fn error(code: &str, message: String, hint: &str) -> Response {
    Response::Error(ErrorReply {
        code: code.into(),
        message,
        hint: Some(hint.into()),
    })
}

/// The executable of a run request, checked in the order the caller's mistakes are
/// reported: no command, a bad working directory, then the program itself.
pub fn for_run(run: &kovra_proto::RunRequest) -> Result<Program, Response> {
    let Some(arg0) = run.argv.first() else {
        return Err(Response::Error(ErrorReply {
            code: "usage".into(),
            message: "no command given".into(),
            hint: Some("kovra run [OPTIONS] -- COMMAND [ARGS]".into()),
        }));
    };
    let cwd = Path::new(&run.cwd);
    if !cwd.is_absolute() || !cwd.is_dir() {
        return Err(Response::Error(ErrorReply {
            code: "cwd-invalid".into(),
            message: format!("working directory {} does not exist", run.cwd),
            hint: None,
        }));
    }
    let path_var = run
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    open(arg0, cwd, path_var)
}

/// Find `arg0` as a shell would (a path with `/` relative to `cwd`, a bare name in
/// `path_var`), open it and hash it.
pub fn open(arg0: &str, cwd: &Path, path_var: Option<&str>) -> Result<Program, Response> {
    let path = resolve(arg0, cwd, path_var)?;
    open_path(&path, arg0)
}

/// Open and hash a file named directly (the allowlist's `allow add PATH`).
pub fn open_path(path: &Path, shown: &str) -> Result<Program, Response> {
    let file = File::open(path).map_err(|_| {
        error(
            "command-not-found",
            format!("`{shown}`: no such file"),
            "check the path",
        )
    })?;
    let meta = file.metadata().map_err(|e| {
        error(
            "not-executable",
            format!("`{shown}`: {e}"),
            "check the path",
        )
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(error(
            "not-executable",
            format!("`{}` is not an executable file", path.display()),
            "chmod +x it, or run it through its interpreter (`kovra run -- sh script.sh`)",
        ));
    }
    let sha256 = hash_cached(&file, &meta).map_err(|e| {
        error(
            "not-executable",
            format!("cannot read {}: {e}", path.display()),
            "check the file's permissions",
        )
    })?;
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let user_writable = writable_by_us(&meta, &canonical);
    Ok(Program {
        path: path.to_path_buf(),
        canonical,
        file,
        sha256,
        user_writable,
    })
}

fn resolve(arg0: &str, cwd: &Path, path_var: Option<&str>) -> Result<PathBuf, Response> {
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
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(error(
        "command-not-found",
        format!("`{arg0}`: command not found in PATH"),
        "check the spelling, or give a path",
    ))
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
/// exec): it owns it (and so can chmod it) or its mode lets it write. Replacing the file by
/// another name changes the hash and is caught anyway. Root is judged by owner and mode
/// bits alone, as it could write anything.
fn writable_by_us(meta: &std::fs::Metadata, canonical: &Path) -> bool {
    let uid = nix::unistd::geteuid().as_raw();
    let by_mode = meta.permissions().mode() & 0o022 != 0;
    if uid == 0 {
        return by_mode;
    }
    meta.uid() == uid
        || by_mode
        || nix::unistd::access(canonical, nix::unistd::AccessFlags::W_OK).is_ok()
}
