//! Which of a caller's environment variables may reach a process kovra starts. An approval
//! covers what runs; a variable that makes a loader or an interpreter run other code
//! (`LD_PRELOAD`, `NODE_OPTIONS`, `BASH_ENV`, …) would change that after the human looked.
//! So a child that receives protected values starts from a small clean set, and hooks are
//! never passed to it, not even when asked by name.

/// What a protected child inherits from its caller besides its refs: enough for programs
/// to find things and print sensibly, nothing that decides which code runs.
pub const CLEAN: &[&str] = &["PATH", "HOME", "USER", "LANG", "TERM", "TZ", "TMPDIR"];

/// Variables the dynamic loader or the C library acts on at start (glibc's `LD_*`, iconv
/// modules, its tunables and its allocator's debugging switches). The daemon refuses to start
/// with any of them, and the CLI never starts it with them: none is needed to hold a key, and
/// each changes how the process that holds it allocates or runs.
pub fn is_loader_variable(name: &str) -> bool {
    name.starts_with("LD_")
        || name.starts_with("MALLOC_")
        || matches!(name, "GCONV_PATH" | "GLIBC_TUNABLES")
}

/// Variables that make a loader, an interpreter or a shell run code the command line does
/// not name.
pub fn is_hook_variable(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "NODE_OPTIONS",
        "NODE_PATH",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "PS4",
        "SHELLOPTS",
        "BASHOPTS",
        "ZDOTDIR",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
        "LUA_INIT",
        "PHPRC",
        "PHP_INI_SCAN_DIR",
        "TCLLIBPATH",
        "R_PROFILE",
        "R_PROFILE_USER",
        "GCONV_PATH",
        "IFS",
    ];
    const PREFIXES: &[&str] = &[
        "LD_",
        "DYLD_",
        "PYTHON",
        "PERL5",
        "PERLLIB",
        "GIT_",
        "LUA_INIT_",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` is in the clean set (`CLEAN` and the locale's `LC_*`).
pub fn is_clean(name: &str) -> bool {
    CLEAN.contains(&name) || (name.starts_with("LC_") && !is_hook_variable(name))
}

/// Set in every protected child: Python otherwise runs `.pth` files from the user's own
/// site directory (under `HOME`, writable by an agent) and puts the script's directory first
/// on its import path.
pub const HARDENING: &[(&str, &str)] = &[("PYTHONNOUSERSITE", "1"), ("PYTHONSAFEPATH", "1")];

/// The environment of a protected child, before its refs: the clean set and the variables
/// kept by name, in the caller's order, then `HARDENING`. Hooks never pass.
pub fn protected(caller: &[(String, String)], keep: &[String]) -> Vec<(String, String)> {
    caller
        .iter()
        .filter(|(k, _)| !is_hook_variable(k) && (is_clean(k) || keep.contains(k)))
        .cloned()
        .chain(
            HARDENING
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        )
        .collect()
}

/// Whether a run gets the clean environment: it needs (or had) a proof, it starts an
/// allowlisted executable, or any value it receives is high, inject-only or production.
/// `records` holds each injected record's sensitivity and whether it is production.
pub fn run_is_protected(
    records: &[(crate::model::Sensitivity, bool)],
    proof_involved: bool,
) -> bool {
    proof_involved
        || records
            .iter()
            .any(|(s, production)| *production || *s >= crate::model::Sensitivity::High)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn hooks_never_pass_even_when_kept() {
        let caller = env(&[
            ("PATH", "/usr/bin"),
            ("LD_PRELOAD", "/tmp/x.so"),
            ("NODE_OPTIONS", "--require /tmp/x.js"),
            ("BASH_ENV", "/tmp/x.sh"),
            ("PYTHONSTARTUP", "/tmp/x.py"),
            ("LC_ALL", "C.UTF-8"),
            ("KEEPME", "1"),
            ("OTHER", "2"),
        ]);
        let keep = vec!["KEEPME".to_string(), "LD_PRELOAD".to_string()];
        let env = protected(&caller, &keep);
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "LC_ALL",
                "KEEPME",
                "PYTHONNOUSERSITE",
                "PYTHONSAFEPATH"
            ]
        );
    }

    #[test]
    fn loader_variables() {
        assert!(is_loader_variable("LD_PRELOAD"));
        assert!(is_loader_variable("LD_AUDIT"));
        assert!(is_loader_variable("LD_LIBRARY_PATH"));
        assert!(is_loader_variable("GLIBC_TUNABLES"));
        assert!(is_loader_variable("MALLOC_PERTURB_"));
        assert!(!is_loader_variable("PATH"));
        assert!(!is_loader_variable("GLIBC_TUNABLES_NOT"));
        assert!(is_hook_variable("GIT_SSH_COMMAND"));
        assert!(is_hook_variable("PERL5OPT"));
        assert!(!is_hook_variable("HOME"));
    }
}
