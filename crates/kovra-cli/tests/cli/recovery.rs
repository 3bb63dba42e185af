//! Recovery and backup (`docs/recovery.md`): with the passphrase forgotten the kit restores
//! access and the old passphrase stops working; a new kit retires the old one; agents get
//! neither kits nor backups; a backup restored on a fresh home opens with the passphrase;
//! a changed or older backup is refused with a clear error. Planted values appear in no
//! output and in no backup's bytes.

use crate::harness::*;

const CANARY: &[u8] = b"canary-recovery-3d9f1c77";
const COORD: &str = "secret:dev/db/password";
const NEW_PASSPHRASE: &str = "a new passphrase, also long";

/// The kit in what a command printed: ten groups of four base32 characters.
fn kit_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| {
            w.len() == 49
                && w.split('-').count() == 10
                && w.split('-').all(|g| {
                    g.len() == 4
                        && g.bytes()
                            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
                })
        })
        .unwrap_or_else(|| panic!("no recovery kit in: {text}"))
        .to_string()
}

/// A human makes a kit at a terminal (the passphrase answers the proof prompt).
fn make_kit(h: &Home, passphrase: &str) -> String {
    let out = h.run_pty(&["recovery-kit"], &[passphrase]);
    assert!(out.status.success(), "recovery-kit: {}", describe(&out));
    kit_in(&stdout(&out))
}

fn with_canary() -> (Home, String) {
    let h = Home::init();
    h.add_ok(COORD, CANARY, &[]);
    let fp = human_fingerprint(&h, &[], COORD, PASSPHRASE);
    (h, fp)
}

fn assert_no_canary(homes: &[&Home], files: &[&std::path::Path]) {
    for h in homes {
        assert!(
            !h.transcript_contains(&[CANARY.to_vec()]),
            "a value was printed"
        );
        let hits: Vec<_> = h
            .files_containing(&[CANARY.to_vec()])
            .into_iter()
            .filter(|p| !p.ends_with("passphrase"))
            .collect();
        assert!(hits.is_empty(), "plaintext value in {hits:?}");
    }
    for f in files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !contains(&bytes, CANARY),
            "plaintext value in {}",
            f.display()
        );
        assert!(
            !contains(&bytes, b"db/password"),
            "a coordinate in {}",
            f.display()
        );
    }
}

fn unlock_from_file(h: &Home, passphrase: &str) -> std::process::Output {
    let file = h.root.join("try-passphrase");
    std::fs::write(&file, format!("{passphrase}\n")).unwrap();
    h.run(&["unlock", "--passphrase-file", file.to_str().unwrap()])
}

#[test]
fn the_kit_replaces_a_forgotten_passphrase_and_the_old_one_stops_working() {
    let (h, fp) = with_canary();
    let kit = make_kit(&h, PASSPHRASE);
    h.ok(&["lock"]);
    // A typo is told apart from a wrong kit, and changes nothing.
    let mut typo = kit.clone().into_bytes();
    typo[0] = if typo[0] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let out = h.run_pty(&["recover"], &[&typo, NEW_PASSPHRASE, NEW_PASSPHRASE]);
    assert_exit(&out, 2, "a mistyped kit");
    assert_contains(&stdout(&out), "recovery-kit-invalid", &out);
    // The kit, typed in lower case with spaces: accepted.
    let loose = kit.replace('-', " ").to_lowercase();
    let out = h.run_pty(&["recover"], &[&loose, NEW_PASSPHRASE, NEW_PASSPHRASE]);
    assert!(out.status.success(), "recover: {}", describe(&out));
    assert_contains(&stdout(&out), "old passphrase no longer opens", &out);
    h.ok(&["lock"]);
    let out = unlock_from_file(&h, PASSPHRASE);
    assert_exit(&out, 1, "the old passphrase");
    assert_contains(&stderr(&out), "wrong-passphrase", &out);
    h.unlock_typed_with(NEW_PASSPHRASE);
    assert_eq!(human_fingerprint(&h, &[], COORD, NEW_PASSPHRASE), fp);
    let entries = audit(&h, &["--action", "recover"]);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_no_canary(&[&h], &[]);
}

#[test]
fn a_new_kit_retires_the_old_one() {
    let (h, fp) = with_canary();
    let old = make_kit(&h, PASSPHRASE);
    let out = h.run_pty(&["recovery-kit"], &[PASSPHRASE]);
    assert!(out.status.success(), "recovery-kit: {}", describe(&out));
    assert_contains(&stdout(&out), "earlier recovery kit no longer opens", &out);
    let new = kit_in(&stdout(&out));
    assert_ne!(old, new);
    h.ok(&["lock"]);
    let out = h.run_pty(&["recover"], &[&old, NEW_PASSPHRASE, NEW_PASSPHRASE]);
    assert_exit(&out, 1, "a replaced kit");
    assert_contains(&stdout(&out), "recovery-kit-wrong", &out);
    // Nothing changed: the passphrase still opens the vault; the new kit works.
    let out = unlock_from_file(&h, PASSPHRASE);
    assert!(out.status.success(), "unlock: {}", describe(&out));
    let out = h.run_pty(&["recover"], &[&new, NEW_PASSPHRASE, NEW_PASSPHRASE]);
    assert!(out.status.success(), "recover: {}", describe(&out));
    assert_eq!(human_fingerprint(&h, &[], COORD, NEW_PASSPHRASE), fp);
}

#[test]
fn a_kit_goes_only_to_a_terminal_or_a_named_file_and_never_to_an_agent() {
    let (h, _) = with_canary();
    let mut seen = Vec::new();
    let file = h.root.join("kit.txt");
    let f = file.to_str().unwrap();
    // An agent: refused by policy, whether to a file or not, and no file appears.
    let out = h.agent(&["recovery-kit", "--out", f], &mut seen);
    assert_exit(&out, 4, "an agent's recovery-kit");
    assert_contains(&stderr(&out), "policy-denied", &out);
    assert_contains(&stderr(&out), "are the human's", &out);
    assert!(!file.exists());
    let out = h.agent(&["recover"], &mut seen);
    assert!(
        !out.status.success(),
        "an agent's recover: {}",
        describe(&out)
    );
    let out = h.agent(
        &[
            "restore",
            file.to_str().unwrap(),
            "--passphrase-file",
            h.pass_file.to_str().unwrap(),
        ],
        &mut seen,
    );
    assert_exit(&out, 4, "an agent's restore");
    assert_contains(&stderr(&out), "are the human's", &out);
    assert!(db_path(&h).exists());
    // `restore` locks the daemon before it hands over (as `kovra lock` may, from anyone).
    h.unlock_typed();
    // Without a terminal on stdout and without --out, nothing is asked of the daemon.
    let out = h.run(&["recovery-kit"]);
    assert_exit(&out, 1, "recovery-kit to a pipe");
    assert_contains(&stderr(&out), "no-terminal", &out);
    let trail = audit(&h, &["--action", "recovery-kit"]);
    assert!(trail.iter().all(|e| e["decision"] != "ok"), "{trail:?}");
    // A human at a terminal, into a new file: 0600, and the kit is not printed.
    let out = h.run_pty(&["recovery-kit", "--out", f], &[PASSPHRASE]);
    assert!(
        out.status.success(),
        "recovery-kit --out: {}",
        describe(&out)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let kit = kit_in(&text);
    assert!(!stdout(&out).contains(&kit));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // It never replaces a file.
    let out = h.run_pty(&["recovery-kit", "--out", f], &[PASSPHRASE]);
    assert_exit(&out, 1, "recovery-kit over a file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert!(!contains(&seen, CANARY));
    assert_no_canary(&[&h], &[]);
}

#[test]
fn a_backup_restored_on_a_fresh_home_opens_with_the_passphrase() {
    let (h, fp) = with_canary();
    let file = h.root.join("vault.kovra-backup");
    // From a script (no terminal): a backup is ciphertext, so that is allowed.
    let out = h.ok(&["backup", file.to_str().unwrap()]);
    assert_contains(&stderr(&out), "backup of vault", &out);
    // Never over an existing file.
    let out = h.run(&["backup", file.to_str().unwrap()]);
    assert_exit(&out, 1, "a backup over a file");

    let fresh = Home::new();
    let out = fresh.run_pty(&["restore", file.to_str().unwrap()], &[PASSPHRASE]);
    assert!(out.status.success(), "restore: {}", describe(&out));
    assert_contains(&stdout(&out), "restored and unlocked", &out);
    assert_eq!(human_fingerprint(&fresh, &[], COORD, PASSPHRASE), fp);
    fresh.ok(&["lock"]);
    fresh.unlock_typed();
    let (_, v) = fresh.json(&["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(audit(&fresh, &["--action", "restore"]).len(), 1);
    assert_no_canary(&[&h, &fresh], &[&file]);
}

#[test]
fn a_changed_backup_is_refused_and_nothing_is_restored() {
    let (h, _) = with_canary();
    let file = h.root.join("vault.kovra-backup");
    h.ok(&["backup", file.to_str().unwrap()]);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    let changed = h.root.join("changed.kovra-backup");
    std::fs::write(&changed, &bytes).unwrap();
    let fresh = Home::new();
    let out = fresh.run_pty(&["restore", changed.to_str().unwrap()], &[PASSPHRASE]);
    assert_exit(&out, 8, "a changed backup");
    assert_contains(&stdout(&out), "backup-tampered", &out);
    assert!(!db_path(&fresh).exists());
    // A file that is no backup at all.
    let out = fresh.run_pty(&["restore", db_path(&h).to_str().unwrap()], &[PASSPHRASE]);
    assert_exit(&out, 1, "a vault file given as a backup");
    assert_contains(&stdout(&out), "backup-invalid", &out);
    assert!(!db_path(&fresh).exists());
    assert_no_canary(&[&h, &fresh], &[&file]);
}

#[test]
fn an_older_backup_is_refused_unless_rollback_is_asked_for_with_a_proof() {
    let (h, fp) = with_canary();
    let file = h.root.join("old.kovra-backup");
    h.ok(&["backup", file.to_str().unwrap()]);
    h.add_ok("secret:dev/db/later", b"added after the backup", &[]);
    let f = file.to_str().unwrap();
    let out = h.run_pty(&["restore", f], &[PASSPHRASE]);
    assert_exit(&out, 1, "an older backup");
    assert_contains(&stdout(&out), "backup-older", &out);
    assert_contains(&stdout(&out), "audit entries", &out);
    // The vault is as it was.
    h.unlock_typed();
    let (_, v) = h.json(&["show", "secret:dev/db/later"]);
    assert_eq!(v["coordinate"], "secret:dev/db/later", "{v}");
    // Asked for, but with the passphrase from a file: no proof of presence.
    let pass = h.pass_file.to_str().unwrap().to_string();
    let out = h.run_pty(
        &["restore", f, "--allow-rollback", "--passphrase-file", &pass],
        &[],
    );
    assert_exit(&out, 5, "a rollback without a proof");
    assert_contains(&stdout(&out), "needs-proof", &out);
    // Asked for at a terminal: restored, and the replaced vault kept aside.
    h.unlock_typed();
    let out = h.run_pty(&["restore", f, "--allow-rollback"], &[PASSPHRASE]);
    assert!(
        out.status.success(),
        "restore --allow-rollback: {}",
        describe(&out)
    );
    assert_contains(&stdout(&out), "kept at", &out);
    let (code, _) = h.json(&["show", "secret:dev/db/later"]);
    assert_eq!(code, 3, "the later record is gone");
    assert_eq!(human_fingerprint(&h, &[], COORD, PASSPHRASE), fp);
    let aside: Vec<_> = std::fs::read_dir(&h.home)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("vault.db.replaced-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    let rolled = audit(&h, &["--action", "restore"]);
    assert_eq!(rolled.len(), 1, "{rolled:?}");
    assert_eq!(rolled[0]["reason"], "rollback-allowed");
    assert_no_canary(&[&h], &[&file]);
}

#[test]
fn a_vault_file_rolled_back_outside_kovra_is_named_at_unlock() {
    let (h, _) = with_canary();
    // Stopping the daemon locks it, which acknowledges where the chain stands.
    h.stop();
    let old = h.root.join("old-vault.db");
    std::fs::copy(db_path(&h), &old).unwrap();
    h.unlock_typed();
    h.add_ok("secret:dev/db/later", b"added after the copy", &[]);
    h.stop();
    std::fs::copy(&old, db_path(&h)).unwrap();
    let out = h.run_pty(&["unlock"], &[PASSPHRASE]);
    assert!(out.status.success(), "unlock: {}", describe(&out));
    assert_contains(
        &stdout(&out),
        "behind this home's last acknowledged state",
        &out,
    );
    let unlocks = audit(&h, &["--action", "unlock"]);
    let last = unlocks.last().unwrap();
    assert!(
        last["detail"]
            .as_str()
            .unwrap_or("")
            .contains("rolled back"),
        "{last}"
    );
    // An ordinary unlock says nothing of the kind.
    h.ok(&["lock"]);
    let out = h.run_pty(&["unlock"], &[PASSPHRASE]);
    assert!(out.status.success(), "unlock: {}", describe(&out));
    assert!(!stdout(&out).contains("acknowledged"), "{}", describe(&out));
    assert_no_canary(&[&h], &[]);
}
