//! `kovra passkey`: list and remove (with a proof); enrolling happens in the Web UI, which
//! `passkey enrol` points at. The WebAuthn ceremonies themselves are tested in the daemon
//! with an emulated authenticator (`handler/tests/passkey.rs`).

use crate::harness::*;

#[test]
fn list_remove_and_where_to_enrol() {
    let h = Home::init();
    let out = h.ok(&["passkey", "list"]);
    assert_contains(&stderr(&out), "no passkey is enrolled", &out);
    let (code, doc) = h.json(&["passkey", "list"]);
    assert_eq!(code, 0);
    assert_eq!(doc["kind"], "passkeys");
    assert_eq!(doc["passkeys"], serde_json::json!([]));
    let out = h.ok(&["passkey", "enrol"]);
    assert_contains(&stderr(&out), "kovra ui", &out);
    // Removing needs a proof first; then an unknown id is `passkey-unknown` (exit 3).
    let out = h.run_pty(&["passkey", "remove", "bm8tc3VjaA"], &[PASSPHRASE]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_contains(&stdout(&out), "passkey-unknown", &out);
}
