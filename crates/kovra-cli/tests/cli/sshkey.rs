//! SSH key records (`keygen`, `add --ssh-key`, `pubkey`, `sign`) against OpenSSH itself:
//! keys made by `ssh-keygen` are imported, and `ssh-keygen -Y verify` checks every signature.
//! Commands here run without a terminal, so the daemon sees an agent: low keys sign freely,
//! a high key's signature is parked for a human.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::*;
use crate::leak::*;

const ID: &str = "me@example.com";

fn ssh_keygen(args: &[&str]) -> std::process::Output {
    let out = Command::new("ssh-keygen")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        describe(&out)
    );
    out
}

/// A key made by ssh-keygen in `dir`, protected by `passphrase` (empty: none).
pub(crate) fn made_by_openssh(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    ssh_keygen(&[
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        "from-openssh",
        "-f",
        path.to_str().unwrap(),
    ]);
    path
}

/// `type base64` of a public key line (the comment may differ).
pub(crate) fn key_of(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The base64 body of a PEM file, and its lines of the private section: what must never be
/// printed. The body's first lines hold the public key in the clear (the OpenSSH format
/// repeats it before the private section), so those are left out; the last line is mostly
/// comment and padding.
pub(crate) fn canaries(pem: &str) -> Vec<String> {
    let lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let mut out = vec![lines.concat()];
    let private = lines.len() / 2..lines.len() - 1;
    assert!(!private.is_empty(), "a key of {} lines", lines.len());
    out.extend(lines[private].iter().map(|l| l.to_string()));
    out
}

/// Sign `data` (as a file) and check the signature with `ssh-keygen -Y verify`.
fn sign_and_verify(h: &Home, coord: &str, public: &str, data: &[u8]) {
    let dir = &h.root;
    let file = dir.join("data.bin");
    std::fs::write(&file, data).unwrap();
    let out = h.run(&["sign", coord, file.to_str().unwrap(), "--namespace", "file"]);
    assert!(out.status.success(), "sign {coord}: {}", describe(&out));
    let sig = stdout(&out);
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
    let sig_path = dir.join("data.sig");
    std::fs::write(&sig_path, &sig).unwrap();
    let allowed = dir.join("allowed_signers");
    std::fs::write(&allowed, format!("{ID} {}\n", key_of(public))).unwrap();
    let verify = |namespace: &str, input: &Path| {
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args(["-I", ID, "-n", namespace, "-s"])
            .arg(&sig_path)
            .stdin(std::fs::File::open(input).unwrap())
            .output()
            .unwrap()
    };
    let good = verify("file", &file);
    assert!(good.status.success(), "verify {coord}: {}", describe(&good));
    assert!(!verify("git", &file).status.success(), "another namespace");
    let other = dir.join("other.bin");
    std::fs::write(&other, [data, b"!"].concat()).unwrap();
    assert!(!verify("file", &other).status.success(), "other data");
    // From standard input, the same signature verifies too.
    let piped = h.run_stdin(&["sign", coord, "-n", "file"], data);
    assert!(
        piped.status.success(),
        "sign from stdin: {}",
        describe(&piped)
    );
    std::fs::write(&sig_path, stdout(&piped)).unwrap();
    assert!(verify("file", &file).status.success(), "stdin signature");
}

#[test]
fn keygen_signs_what_ssh_keygen_verifies_for_each_type() {
    let h = Home::init();
    for kind in ["ed25519", "ecdsa-p256", "rsa-3072"] {
        let coord = format!("secret:dev/ssh/{kind}");
        let out = h.run(&["keygen", &coord, "--type", kind, "--sensitivity", "low"]);
        assert!(out.status.success(), "keygen {kind}: {}", describe(&out));
        let public = stdout(&out).trim().to_string();
        let prefix = match kind {
            "ed25519" => "ssh-ed25519 AAAA",
            "ecdsa-p256" => "ecdsa-sha2-nistp256 AAAA",
            _ => "ssh-rsa AAAA",
        };
        assert!(public.starts_with(prefix), "{public}");
        assert_eq!(stdout(&h.ok(&["pubkey", &coord])).trim(), public);
        sign_and_verify(
            &h,
            &coord,
            &public,
            format!("release of {kind}\n").as_bytes(),
        );
    }
    // A second keygen at the same coordinate is refused and leaves the first key.
    let first = stdout(&h.ok(&["pubkey", "secret:dev/ssh/ed25519"]));
    let again = h.run(&["keygen", "secret:dev/ssh/ed25519"]);
    assert!(!again.status.success());
    assert_eq!(stdout(&h.ok(&["pubkey", "secret:dev/ssh/ed25519"])), first);
    // The signatures are on the trail with the key's fingerprint and namespace.
    let (_, key) = h.json(&["pubkey", "secret:dev/ssh/ed25519"]);
    let fingerprint = key["fingerprint"].as_str().unwrap();
    let signs = audit(&h, &["--action", "sign"]);
    assert!(
        signs.iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains(fingerprint) && d.contains("namespace file"))),
        "{signs:?}"
    );
}

#[test]
fn keys_from_ssh_keygen_import_with_and_without_a_passphrase() {
    let h = Home::init();
    let plain = made_by_openssh(&h.root, "id_plain", "ed25519", "");
    let pem = std::fs::read_to_string(&plain).unwrap();
    let out = h.add(
        "secret:dev/ssh/plain",
        pem.as_bytes(),
        &["--ssh-key", "--sensitivity", "low"],
    );
    assert!(out.status.success(), "add --ssh-key: {}", describe(&out));
    let want = stdout(&ssh_keygen(&["-y", "-f", plain.to_str().unwrap()]));
    let got = stdout(&h.ok(&["pubkey", "secret:dev/ssh/plain"]));
    assert_eq!(key_of(&got), key_of(&want));
    sign_and_verify(&h, "secret:dev/ssh/plain", &got, b"imported\n");

    // The kind and the key's fingerprint, in `show` and `list`, human and JSON.
    let lf = stdout(&ssh_keygen(&["-l", "-f", plain.to_str().unwrap()]));
    let fingerprint = lf.split_whitespace().nth(1).unwrap().to_string();
    let (_, shown) = h.json(&["show", "secret:dev/ssh/plain"]);
    assert_eq!(shown["type"], "ssh-key");
    assert_eq!(shown["ssh_key"]["fingerprint"], fingerprint.as_str());
    let human = stdout(&h.ok(&["show", "secret:dev/ssh/plain"]));
    assert!(
        human.contains("kind:        ssh-key") && human.contains(&fingerprint),
        "{human}"
    );
    h.add_ok(
        "secret:dev/db/password",
        canary("plain-secret").as_bytes(),
        &[],
    );
    let (_, listed) = h.json(&["list"]);
    let kinds: Vec<(String, String)> = listed["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["coordinate"].as_str().unwrap().to_string(),
                r["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(kinds.contains(&("secret:dev/ssh/plain".into(), "ssh-key".into())));
    assert!(kinds.contains(&("secret:dev/db/password".into(), "secret".into())));
    let table = stdout(&h.ok(&["list"]));
    assert!(
        table.contains("KIND") && table.contains("ssh-key"),
        "{table}"
    );

    // A protected key: no passphrase, a wrong one, then the right one.
    let secret_pass = canary("keypass");
    let locked = made_by_openssh(&h.root, "id_locked", "ecdsa", &secret_pass);
    let locked_pem = std::fs::read_to_string(&locked).unwrap();
    let coord = "secret:dev/ssh/locked";
    let out = h.add(
        coord,
        locked_pem.as_bytes(),
        &["--ssh-key", "--sensitivity", "low"],
    );
    assert_exit(&out, 1, "no passphrase");
    assert_contains(&stderr(&out), "ssh-key-passphrase-needed", &out);
    let wrong = h.root.join("wrong-pass");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let mut args = vec!["--ssh-key", "--sensitivity", "low", "--key-passphrase-file"];
    args.push(wrong.to_str().unwrap());
    let out = h.add(coord, locked_pem.as_bytes(), &args);
    assert_exit(&out, 1, "wrong passphrase");
    assert_contains(&stderr(&out), "ssh-key-passphrase-wrong", &out);
    assert_exit(&h.run(&["show", coord]), 3, "nothing was written");
    let right = h.root.join("right-pass");
    std::fs::write(&right, format!("{secret_pass}\n")).unwrap();
    std::fs::set_permissions(&right, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    args[4] = right.to_str().unwrap();
    let out = h.add(coord, locked_pem.as_bytes(), &args);
    assert!(out.status.success(), "right passphrase: {}", describe(&out));
    let want = stdout(&ssh_keygen(&[
        "-y",
        "-P",
        &secret_pass,
        "-f",
        locked.to_str().unwrap(),
    ]));
    let got = stdout(&h.ok(&["pubkey", coord]));
    assert_eq!(key_of(&got), key_of(&want));
    sign_and_verify(&h, coord, &got, b"signed with an imported protected key\n");

    // An agent (no terminal here) never gets a private key back, even a low one.
    let out = h.run(&["reveal", "secret:dev/ssh/plain"]);
    assert_exit(&out, 4, "agent reveal of a key");
    assert_contains(&stderr(&out), "never gets an SSH private key", &out);

    // Canary scan: neither key's body (nor the passphrase) is in any output, any file of the
    // home (the vault seals them) or the audit trail.
    let _ = h.ok(&["audit", "--json"]);
    for value in canaries(&pem).iter().chain(canaries(&locked_pem).iter()) {
        assert_not_printed(&h, value, "a private key's base64");
        assert_not_in_dirs(&[&h.home, &h.runtime], value, "a private key's base64");
    }
    assert_not_printed(&h, &secret_pass, "the key's passphrase");
    assert_not_in_dirs(&[&h.home, &h.runtime], &secret_pass, "the key's passphrase");
}

#[test]
fn what_is_not_a_private_key_is_refused_and_changes_nothing() {
    let h = Home::init();
    let coord = "secret:dev/ssh/bad";
    let plain = made_by_openssh(&h.root, "id_x", "ed25519", "");
    let public = std::fs::read_to_string(plain.with_extension("pub")).unwrap();
    let not_key = canary("not-a-key");
    for (input, says) in [
        (not_key.as_bytes(), "not an OpenSSH private key"),
        (public.as_bytes(), "is a public key"),
        (
            b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n".as_slice(),
            "old PEM format",
        ),
    ] {
        let out = h.add(coord, input, &["--ssh-key"]);
        assert_exit(&out, 1, says);
        let err = stderr(&out);
        assert_contains(&err, says, &out);
        assert_contains(&err, "ssh-key-invalid", &out);
        assert_contains(&err, "hint:", &out);
        assert_exit(&h.run(&["show", coord]), 3, "the vault is unchanged");
    }
    assert_not_printed(&h, &not_key, "rejected input");
    // Signing with what is not a key says so.
    h.add_ok(
        "secret:dev/db/password",
        canary("pw").as_bytes(),
        &["--sensitivity", "low"],
    );
    let out = h.run(&["sign", "secret:dev/db/password", "-n", "file"]);
    assert_exit(&out, 1, "sign with a secret");
    assert_contains(&stderr(&out), "not-ssh-key", &out);
    let out = h.run(&["pubkey", "secret:dev/db/password"]);
    assert_contains(&stderr(&out), "not-ssh-key", &out);
}

#[test]
fn an_agent_signature_with_a_high_key_is_parked_for_the_human() {
    let h = Home::init();
    let coord = "secret:dev/ssh/deploy";
    // Default sensitivity: high.
    let public = stdout(&h.ok(&["keygen", coord]));
    let (_, shown) = h.json(&["show", coord]);
    assert_eq!(shown["sensitivity"], "high");
    let out = h.run_stdin(&["--json", "sign", coord, "-n", "file"], b"deploy\n");
    assert_exit(&out, 5, "agent sign of a high key");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "needs-proof", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("approval needed") && message.contains("sign-needs-proof"),
        "{doc}"
    );
    assert!(!stdout(&out).contains("BEGIN SSH SIGNATURE"));
    let (_, pending) = h.json(&["approve"]);
    let parked = pending["pending"].as_array().unwrap();
    assert!(parked.iter().any(|p| p["action"] == "sign"), "{pending}");
    let needs = audit(&h, &["--action", "sign"]);
    assert!(
        needs.iter().any(|e| e["decision"] == "needs-proof"),
        "{needs:?}"
    );
    assert!(public.starts_with("ssh-ed25519 "));
}

/// A `.env.refs` line of a key record gets its public key; `#private` asks for the private
/// key, which is decided as high whatever the record says (here: an unlisted program, so
/// refused), and `#private` on a plain secret is an error.
#[test]
fn a_refs_line_injects_the_public_key_and_guards_the_private_one() {
    let p = Project::new();
    let coord = "secret:dev/ssh/deploy";
    let public = stdout(&p.h.ok(&["keygen", coord, "--sensitivity", "low"]));
    p.refs("DEPLOY_PUB=secret:dev/ssh/deploy\n");
    let run = |refs: &str| {
        p.refs(refs);
        let c = p.cmd(&[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s' \"$DEPLOY_PUB$DEPLOY_KEY\"",
        ]);
        p.h.run_with(c, None)
    };
    let out = run("DEPLOY_PUB=secret:dev/ssh/deploy\n");
    assert!(out.status.success(), "run: {}", describe(&out));
    assert_eq!(stdout(&out), public.trim());
    let out = run("DEPLOY_KEY=secret:dev/ssh/deploy#private\n");
    assert_exit(
        &out,
        4,
        "the private key of a low key, to an unlisted program",
    );
    assert_contains(&stderr(&out), "policy-denied", &out);
    assert_contains(&stderr(&out), "allowlist", &out);
    assert!(!stdout(&out).contains("PRIVATE KEY"));
    p.h.add_ok(
        "secret:dev/db/password",
        canary("pw").as_bytes(),
        &["--sensitivity", "low"],
    );
    let out = run("DEPLOY_KEY=secret:dev/db/password#private\n");
    assert_exit(&out, 1, "#private on a secret");
    assert_contains(&stderr(&out), "not-ssh-key", &out);
}

/// `kovra ARGS` on a real terminal, answering each prompt matching a rule's regex with its
/// text (`pty_script.py`); everything the terminal showed is the output.
fn on_terminal(h: &Home, args: &[&str], rules: &[(&str, &str)]) -> std::process::Output {
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|(expect, send)| serde_json::json!({"expect": expect, "send": send, "times": 1}))
        .collect();
    let spec = h.root.join("pty-spec.json");
    std::fs::write(
        &spec,
        serde_json::json!({"rules": rules, "timeout": 60}).to_string(),
    )
    .unwrap();
    h.run_with(h.support_cmd("pty_script.py", [&spec], args), None)
}

/// At a terminal, a human pastes a protected key at the hidden prompt and types its
/// passphrase; revealing it follows the guarded path (a proof), and signing with a high key
/// takes a proof too.
#[test]
fn a_human_pastes_a_key_reveals_it_with_a_proof_and_signs_with_a_proof() {
    let h = Home::init();
    let key_pass = canary("paste-pass");
    let made = made_by_openssh(&h.root, "id_paste", "ed25519", &key_pass);
    let pem = std::fs::read_to_string(&made).unwrap();
    let coord = "secret:dev/ssh/pasted";
    let out = on_terminal(
        &h,
        &["add", coord, "--ssh-key"],
        &[
            (r"key \(hidden\): $", pem.trim_end()),
            (r"passphrase of the SSH key \(hidden\): $", &key_pass),
        ],
    );
    assert!(out.status.success(), "pasted add: {}", describe(&out));
    for value in canaries(&pem) {
        assert_absent(&out.stdout, &value, "the pasted key on the terminal");
    }
    let (_, shown) = h.json(&["show", coord]);
    assert_eq!(
        (shown["type"].as_str(), shown["sensitivity"].as_str()),
        (Some("ssh-key"), Some("high"))
    );
    let public = stdout(&h.ok(&["pubkey", coord]));
    let want = stdout(&ssh_keygen(&[
        "-y",
        "-P",
        &key_pass,
        "-f",
        made.to_str().unwrap(),
    ]));
    assert_eq!(key_of(&public), key_of(&want));

    // Reveal: a human at a terminal, with the passphrase as proof, gets the decrypted key,
    // which OpenSSH reads as the same key.
    let out = h.run_pty(&["reveal", coord], &[PASSPHRASE]);
    assert!(out.status.success(), "reveal: {}", describe(&out));
    let text = stdout(&out);
    let begin = text
        .find("-----BEGIN OPENSSH PRIVATE KEY-----")
        .expect("a key");
    let end = text
        .find("-----END OPENSSH PRIVATE KEY-----")
        .expect("its end");
    let revealed = h.root.join("revealed");
    std::fs::write(
        &revealed,
        format!("{}\n", &text[begin..end + 33].replace("\r\n", "\n")),
    )
    .unwrap();
    std::fs::set_permissions(
        &revealed,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let again = stdout(&ssh_keygen(&[
        "-y",
        "-P",
        "",
        "-f",
        revealed.to_str().unwrap(),
    ]));
    assert_eq!(
        key_of(&again),
        key_of(&public),
        "stored decrypted, the same key"
    );

    // Sign with the high key: at a terminal the passphrase proves presence.
    let data = h.root.join("release.txt");
    std::fs::write(&data, b"release 1.0\n").unwrap();
    let out = h.run_pty(
        &["sign", coord, data.to_str().unwrap(), "--namespace", "file"],
        &[PASSPHRASE],
    );
    assert!(
        out.status.success(),
        "sign with a proof: {}",
        describe(&out)
    );
    let text = stdout(&out).replace("\r\n", "\n");
    let begin = text
        .find("-----BEGIN SSH SIGNATURE-----")
        .expect("a signature");
    let sig = h.root.join("release.sig");
    std::fs::write(&sig, &text[begin..]).unwrap();
    let allowed = h.root.join("allowed_signers");
    std::fs::write(&allowed, format!("{ID} {}\n", key_of(&public))).unwrap();
    let verify = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(&allowed)
        .args(["-I", ID, "-n", "file", "-s"])
        .arg(&sig)
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    assert!(verify.status.success(), "verify: {}", describe(&verify));
    let signs = audit(&h, &["--action", "sign"]);
    assert!(
        signs
            .iter()
            .any(|e| e["decision"] == "allow" && e["reason"] == "proof-of-presence"),
        "{signs:?}"
    );
}

/// A key record never goes into a sharing package: `share` names it and writes nothing.
#[test]
fn share_refuses_an_environment_holding_a_key() {
    let h = Home::init();
    let public = stdout(&h.ok(&["keygen", "secret:dev/ssh/deploy", "--sensitivity", "low"]));
    h.add_ok(
        "secret:dev/db/password",
        canary("share-pw").as_bytes(),
        &["--sensitivity", "low"],
    );
    let package = h.root.join("pkg.age");
    let share = |extra: &[&str]| {
        let mut args = vec!["share", "--env", "dev", "--to", public.trim()];
        args.extend_from_slice(&["--out", package.to_str().unwrap()]);
        args.extend_from_slice(extra);
        // At a terminal (the token is shown only there), the passphrase as the proof.
        h.run_pty(&args, &[PASSPHRASE])
    };
    let out = share(&[]);
    assert_exit(&out, 4, "share with a key");
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert_contains(&shown, "SSH key records are not shared", &out);
    assert_contains(&shown, "secret:dev/ssh/deploy", &out);
    assert!(!package.exists(), "a package was written");
    let refused = audit(&h, &["--action", "share"]);
    assert!(
        refused
            .iter()
            .any(|e| e["reason"] == "ssh-key-never-shared"),
        "{refused:?}"
    );
    // Nor is it ever an API credential.
    let out = h.run_pty(&["bind", "secret:dev/ssh/deploy", "openai"], &[PASSPHRASE]);
    assert_exit(&out, 4, "bind a key");
    assert_contains(&stdout(&out), "never pinned to a provider", &out);
    let plain = made_by_openssh(&h.root, "id_pin", "ed25519", "");
    let out = h.add(
        "secret:dev/openai/key",
        &std::fs::read(&plain).unwrap(),
        &["--ssh-key", "--provider", "openai"],
    );
    assert_exit(&out, 1, "add --ssh-key --provider");
    assert_contains(&stderr(&out), "--provider", &out);
    // Without the key's group, the rest is shared.
    let out = share(&["--group", "db"]);
    assert!(
        out.status.success(),
        "share of the db group: {}",
        describe(&out)
    );
    assert!(package.exists());
}
