//! `kovra demo`: the main job end to end on a throwaway vault in a temporary directory.
//! It runs the real binary as a user would, and checks its own promise at the end: the
//! canary value appeared in no output and no file.

use kovra_proto::ErrorCode;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kovra_core::crypto;

use crate::error::CliError;
use crate::render::{line, text};

struct Demo {
    exe: PathBuf,
    dir: PathBuf,
    canary: String,
    leaked: bool,
}

fn fail(what: impl std::fmt::Display) -> CliError {
    CliError::new(
        ErrorCode::DemoFailed,
        format!("the demo failed: {what}"),
        None,
    )
}

impl Demo {
    fn command(&self, args: &[&str], agent: bool) -> Command {
        let mut c = Command::new(&self.exe);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("KOVRA_") {
                c.env_remove(k);
            }
        }
        c.env("KOVRA_HOME", self.dir.join("home"))
            .env("KOVRA_SOCKET", self.dir.join("run/daemon.sock"))
            .args(args);
        if agent {
            c.env("KOVRA_ORIGIN", "agent");
        }
        c
    }

    /// Run one step, show it, and check its output for the canary.
    fn step(
        &mut self,
        note: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
        agent: bool,
        expect_ok: bool,
    ) -> Result<Vec<u8>, CliError> {
        line(&format!("\n# {note}"))?;
        line(&format!(
            "$ {}kovra {}",
            if agent { "KOVRA_ORIGIN=agent " } else { "" },
            args.iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ))?;
        let mut c = self.command(args, agent);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(fail)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).map_err(fail)?;
        }
        let out = child.wait_with_output().map_err(fail)?;
        let forms = kovra_redact::forms(self.canary.as_bytes());
        for stream in [&out.stdout, &out.stderr] {
            if forms.iter().any(|f| contains(stream, f)) {
                self.leaked = true;
            }
        }
        text(&String::from_utf8_lossy(&out.stdout))?;
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if out.status.success() != expect_ok {
            return Err(fail(format!(
                "`kovra {}` exited with {:?}",
                args.join(" "),
                out.status.code()
            )));
        }
        if !expect_ok {
            line(&format!(
                "(refused, as it should be: exit code {})",
                out.status.code().unwrap_or(-1)
            ))?;
        }
        Ok(out.stdout)
    }
}

/// Quote an argument for display the way a user would type it.
fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn files_containing(dir: &Path, needle: &[u8], hits: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_containing(&p, needle, hits);
        } else if std::fs::read(&p).is_ok_and(|b| contains(&b, needle)) {
            hits.push(p);
        }
    }
}

fn random_token(n: usize) -> String {
    hex_string(&crypto::random_array::<32>())[..n].to_string()
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn run() -> Result<(), CliError> {
    let exe = crate::front::user_program().map_err(fail)?;
    let dir = std::env::temp_dir().join(format!("kovra-demo-{}", random_token(10)));
    kovra_core::store::ensure_private_dir(&dir).map_err(fail)?;
    let mut demo = Demo {
        exe,
        dir: dir.clone(),
        canary: format!("kovra-demo-canary-{}", random_token(16)),
        leaked: false,
    };
    let result = tour(&mut demo);
    // Always stop the daemon and remove the throwaway vault.
    let _ = demo
        .command(&["daemon", "stop"], false)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tour(demo: &mut Demo) -> Result<(), CliError> {
    line(&format!(
        "kovra demo: a throwaway vault in {}",
        demo.dir.display()
    ))?;
    let pass_file = demo.dir.join("passphrase");
    std::fs::write(&pass_file, format!("{}\n", random_token(32))).map_err(fail)?;
    std::fs::set_permissions(&pass_file, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    let pass = pass_file.display().to_string();
    let canary = demo.canary.clone();

    demo.step(
        "Create the vault (the passphrase comes from a 0600 file, never argv)",
        &["init", "--passphrase-file", &pass],
        None,
        false,
        true,
    )?;
    demo.step(
        "Hand over a value once, on stdin. Its text is a canary we will hunt for below",
        &[
            "add",
            "secret:dev/payments/api-key",
            "--stdin",
            "--description",
            "payments API key (demo canary)",
        ],
        Some(format!("{canary}\n").as_bytes()),
        false,
        true,
    )?;
    demo.step(
        "Generate a production password inside the daemon: nobody ever sees it",
        &[
            "generate",
            "secret:prod/db/password",
            "--length",
            "40",
            "--description",
            "production database",
        ],
        None,
        false,
        true,
    )?;
    demo.step("Everyone sees metadata only", &["list"], None, false, true)?;
    demo.step(
        "One record's metadata",
        &["show", "secret:dev/payments/api-key"],
        None,
        false,
        true,
    )?;
    demo.step(
        "A keyed fingerprint compares values without showing them",
        &["fingerprint", "secret:dev/payments/api-key"],
        None,
        false,
        true,
    )?;
    demo.step(
        "An agent asks for the production password: policy refuses",
        &["reveal", "secret:prod/db/password"],
        None,
        true,
        false,
    )?;
    demo.step(
        "An agent asks for the canary (medium, not revealable): refused too",
        &["reveal", "secret:dev/payments/api-key"],
        None,
        true,
        false,
    )?;
    // A project wires variables to coordinates; the daemon starts the child with the value.
    let app = demo.dir.join("app");
    std::fs::create_dir_all(&app).map_err(fail)?;
    let refs = app.join(".env.refs");
    std::fs::write(&refs, "# the demo app's wiring: addresses, never values\nAPI_KEY=secret:${ENV}/payments/api-key\n")
        .map_err(fail)?;
    let refs_arg = refs.display().to_string();
    line(&format!(
        "\n# The project's .env.refs (safe to commit):\n{}",
        std::fs::read_to_string(&refs).map_err(fail)?.trim_end()
    ))?;
    let out = demo.step(
        "A child uses the canary; its output is masked, also in base64",
        &[
            "run",
            "--env",
            "dev",
            "--refs",
            &refs_arg,
            "--",
            "sh",
            "-c",
            "echo \"API_KEY=$API_KEY\"; printf %s \"$API_KEY\" | base64; printf %s \"$API_KEY\" | sha256sum",
        ],
        None,
        false,
        true,
    )?;
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(canary.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if !contains(&out, expected.as_bytes()) {
        return Err(fail("the child did not receive the value"));
    }
    line(
        "(the SHA-256 the child printed is the canary's: it had the real value, and never showed it)",
    )?;
    demo.step(
        "Every decision is on the audit trail (never a value)",
        &["audit"],
        None,
        false,
        true,
    )?;
    demo.step(
        "The trail is an HMAC chain: editing, deleting or reordering an entry breaks it",
        &["audit", "verify"],
        None,
        false,
        true,
    )?;
    demo.step(
        "Lock: the daemon forgets the key",
        &["lock"],
        None,
        false,
        true,
    )?;

    line("\n# Hunting for the canary in every output and every file of the vault home")?;
    let mut hits = Vec::new();
    files_containing(&demo.dir, canary.as_bytes(), &mut hits);
    if demo.leaked || !hits.is_empty() {
        return Err(fail(format!(
            "the canary leaked (outputs: {}, files: {hits:?})",
            demo.leaked
        )));
    }
    line("canary found in no output and no file: ok")?;
    line("\nDone. The throwaway vault is removed. Next: `kovra init` for your own vault.")?;
    Ok(())
}
