//! SSH key records at the gate: `public-key` opens nothing, a refused `sign` opens nothing,
//! an allowed one opens exactly its key for `Sign`, and no reply ever carries the private key
//! except a proven human's reveal.

use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::harness::{Harness, PASSPHRASE, b64, full_scope, human, mcp};
use crate::handler::gate::OPENED;

const LOW: &str = "secret:dev/ssh/ci";
const HIGH: &str = "secret:dev/ssh/deploy";
const SHA512: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn opened() -> Vec<String> {
    OPENED.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

fn sign(coordinate: &str) -> Value {
    json!({"op": "sign", "coordinate": coordinate, "namespace": "file", "sha512": SHA512})
}

/// A key made by the daemon at `coordinate`; its public key line.
fn keygen(h: &Harness, coordinate: &str, sensitivity: Option<&str>) -> String {
    let a = h
        .send(
            &human(),
            json!({"op": "keygen", "coordinate": coordinate, "sensitivity": sensitivity}),
        )
        .expect_ok();
    assert_eq!(a.reply()["kind"], "public-key", "{}", a.text);
    a.reply()["public_key"].as_str().unwrap().to_string()
}

#[test]
fn the_private_key_is_opened_only_to_sign_and_only_when_allowed() {
    let h = Harness::unlocked();
    let low_public = keygen(&h, LOW, Some("low"));
    keygen(&h, HIGH, None);
    h.add("secret:dev/db/password", "not-a-key-value", "low", true);
    assert_eq!(h.show(HIGH)["sensitivity"], "high");
    assert_eq!(h.show(LOW)["type"], "ssh-key");
    opened();
    let agent = mcp(full_scope());
    let pubkey = h
        .send(&agent, json!({"op": "public-key", "coordinate": LOW}))
        .expect_ok();
    assert_eq!(pubkey.reply()["public_key"], low_public.as_str());
    h.send(&agent, sign(HIGH)).expect_needs_proof();
    h.send(&agent, json!({"op": "reveal", "coordinate": LOW}))
        .expect_error(ErrorCode::PolicyDenied);
    h.send(&human(), json!({"op": "reveal", "coordinate": LOW}))
        .expect_needs_proof();
    h.send(&human(), sign("secret:dev/db/password"))
        .expect_error(ErrorCode::NotSshKey);
    h.send(
        &human(),
        json!({"op": "public-key", "coordinate": "secret:dev/db/password"}),
    )
    .expect_error(ErrorCode::NotSshKey);
    let mut bad = sign(LOW);
    bad["namespace"] = json!("two words");
    h.send(&human(), bad)
        .expect_error(ErrorCode::NamespaceInvalid);
    let mut bad = sign(LOW);
    bad["sha512"] = json!("abc");
    h.send(&human(), bad)
        .expect_error(ErrorCode::InvalidArgument);
    let metadata_only = mcp(json!({
        "operations": ["metadata"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "all"},
    }));
    h.send(&metadata_only, sign(LOW))
        .expect_error(ErrorCode::PolicyDenied);
    assert_eq!(
        opened(),
        Vec::<String>::new(),
        "a refused request opened a key"
    );

    // Allowed: an agent signs with the low key, a proven human with the high one.
    let signed = h.send(&agent, sign(LOW)).expect_ok();
    let armored = signed.reply()["signature"].as_str().unwrap();
    assert!(armored.starts_with("-----BEGIN SSH SIGNATURE-----"));
    h.send_proven(&human(), sign(HIGH), PASSPHRASE).expect_ok();
    assert_eq!(opened(), [format!("Sign {LOW}"), format!("Sign {HIGH}")]);
    // No reply so far carried a private key.
    for reply in h.replies.borrow().iter() {
        assert!(!reply.contains("PRIVATE KEY"), "{reply}");
        assert!(!reply.contains(&b64("-----BEGIN OPENSSH")[..16]), "{reply}");
    }
    // A proven human's reveal is the one way out, and it is the OpenSSH private key.
    let revealed = h
        .send_proven(
            &human(),
            json!({"op": "reveal", "coordinate": LOW}),
            PASSPHRASE,
        )
        .expect_ok()
        .revealed();
    assert!(revealed.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(opened(), [format!("Reveal {LOW}")]);
}

#[test]
fn a_rejected_import_writes_nothing() {
    let h = Harness::unlocked();
    let before = h.snapshot();
    for value in ["hunter2", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA comment"] {
        h.send(
            &human(),
            json!({"op": "add", "coordinate": LOW, "value": b64(value), "ssh_key": true}),
        )
        .expect_error(ErrorCode::SshKeyInvalid);
    }
    assert_eq!(h.snapshot(), before, "a refused import changed the vault");
}
