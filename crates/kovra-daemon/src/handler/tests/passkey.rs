//! Passkeys as a proof of presence (`docs/passkeys.md`), with an emulated authenticator:
//! enrolment needs a proof and the Web UI's origin; an assertion answers exactly one
//! challenge of one request, once; `proof_kinds` and `passkey_for` narrow what answers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kovra_core::crypto::{self, KdfParams};
use kovra_core::proof;
use kovra_proto::ErrorCode;
use serde_json::{Value, json};

use super::authenticator::Authenticator;
use super::harness::{Answer, CANARY, Harness, PASSPHRASE, Who, holds_canary, human, mcp};

const ORIGIN: &str = "http://localhost:8421";
const HIGH: &str = "secret:dev/db/password";
const LOW: &str = "secret:dev/app/token";

fn vault() -> Harness {
    let h = Harness::unlocked();
    h.daemon.set_web_origin(Some(ORIGIN.into())).unwrap();
    h.add(HIGH, CANARY, "high", false);
    h.add(LOW, "low-value-1", "low", false);
    h
}

fn begin(name: &str, origin: &str) -> Value {
    json!({"op": "passkey-enrol-begin", "name": name, "origin": origin})
}

/// Enrol `auth` through the whole ceremony (a passphrase proof opens it).
fn enrol(h: &Harness, auth: &mut Authenticator) -> String {
    let created = h
        .send_proven(&human(), begin("laptop", ORIGIN), PASSPHRASE)
        .expect_ok();
    let reply = &created.reply();
    let options = &reply["options"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = auth.create(options, ORIGIN);
    let done = h
        .send(
            &human(),
            json!({"op": "passkey-enrol-finish", "ceremony": reply["ceremony"], "credential": credential}),
        )
        .expect_ok();
    let id = done.reply()["id"].as_str().unwrap().to_string();
    assert_eq!(id, URL_SAFE_NO_PAD.encode(&auth.cred_id));
    id
}

fn reveal(coordinate: &str) -> Value {
    json!({"op": "reveal", "coordinate": coordinate})
}

fn digest(who: &Who, request: &Value) -> [u8; 32] {
    let envelope = Harness::envelope(who, request.clone());
    kovra_proto::digest::request_digest(&envelope.context, &envelope.request, None)
}

/// The request again, carrying `assertion` for the challenge `challenged` issued.
fn with_assertion(mut request: Value, challenged: &Answer, assertion: Value) -> Value {
    let challenge = challenged.json["challenge"].clone();
    request["proof"] = json!({"challenge": challenge, "passkey": assertion});
    request
}

#[track_caller]
fn refused(answer: Answer, why: &str) {
    let a = answer.expect_error(ErrorCode::ProofInvalid);
    assert!(a.text.contains(why), "expected `{why}` in {}", a.text);
}

#[test]
fn enrolment_needs_a_proof_a_human_and_the_web_uis_origin() {
    let h = vault();
    h.send(&human(), begin("laptop", ORIGIN))
        .expect_needs_proof();
    // Another localhost origin than the one the Web UI registered.
    h.send_proven(&human(), begin("laptop", "http://localhost:9"), PASSPHRASE)
        .expect_error(ErrorCode::PasskeyInvalid);
    // An agent's own authenticator would prove nothing.
    let agent = mcp(super::harness::full_scope());
    let a = h
        .send(&agent, begin("agent", ORIGIN))
        .expect_error(ErrorCode::PolicyDenied);
    assert!(a.text.contains("agent-passkey-refused") || a.text.contains("human"));
    // Without the Web UI there is no origin to enrol from.
    h.daemon.set_web_origin(None).unwrap();
    h.send_proven(&human(), begin("laptop", ORIGIN), PASSPHRASE)
        .expect_error(ErrorCode::PasskeyInvalid);
    h.daemon.set_web_origin(Some(ORIGIN.into())).unwrap();
    assert!(
        h.daemon
            .set_web_origin(Some("http://evil.test:1".into()))
            .is_err()
    );

    let mut auth = Authenticator::new();
    let id = enrol(&h, &mut auth);
    let list = h.send(&human(), json!({"op": "passkey-list"})).expect_ok();
    let listed = &list.reply()["passkeys"];
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "laptop");
    // A ceremony is single use, and an authenticator without user verification is refused.
    let created = h
        .send_proven(&human(), begin("no-uv", ORIGIN), PASSPHRASE)
        .expect_ok();
    let reply = &created.reply();
    let mut lax = Authenticator::new();
    lax.verifies_user = false;
    let finish = json!({"op": "passkey-enrol-finish", "ceremony": reply["ceremony"],
        "credential": lax.create(&reply["options"], ORIGIN)});
    h.send(&human(), finish.clone())
        .expect_error(ErrorCode::PasskeyInvalid);
    h.send(&human(), finish)
        .expect_error(ErrorCode::PasskeyInvalid);
    let audit = h.audit_text();
    assert!(audit.contains("passkey-enrol"));
}

#[test]
fn an_assertion_answers_exactly_its_challenge_once() {
    let h = vault();
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let who = human();

    // The options carry the challenge derived from this challenge and this request.
    let first = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let options = first.json["answer"]["passkey"].clone();
    let challenge = first.json["challenge"].as_str().unwrap();
    let derived = kovra_core::passkey::challenge(challenge, &digest(&who, &reveal(HIGH)));
    assert_eq!(
        options["challenge"],
        URL_SAFE_NO_PAD.encode(derived).as_str()
    );
    assert_eq!(options["userVerification"], "required");
    assert_eq!(
        options["allowCredentials"][0]["id"],
        URL_SAFE_NO_PAD.encode(&auth.cred_id).as_str()
    );
    let assertion = auth.get(&options, ORIGIN);
    let proven = with_assertion(reveal(HIGH), &first, assertion.clone());
    let a = h.send(&who, proven.clone()).expect_ok();
    let proven_sent = proven.clone();
    assert_eq!(a.revealed(), CANARY.as_bytes());

    // Replayed as it was: the challenge is spent.
    refused(h.send(&who, proven), "already used challenge");
    let proven = proven_sent;
    // Replayed against a fresh challenge of the same request: it signed another one.
    let again = h.send(&who, reveal(HIGH)).expect_needs_proof();
    refused(
        h.send(&who, with_assertion(reveal(HIGH), &again, assertion)),
        "answers another challenge",
    );

    // Signed for request A's challenge, sent with request B's challenge.
    let a_first = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let for_a = auth.get(&a_first.json["answer"]["passkey"], ORIGIN);
    let b_first = h.send(&who, reveal(LOW)).expect_needs_proof();
    refused(
        h.send(&who, with_assertion(reveal(LOW), &b_first, for_a)),
        "answers another challenge",
    );

    // From another origin than the Web UI's.
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let elsewhere = auth.get(&c.json["answer"]["passkey"], "http://localhost:9");
    let elsewhere_sent = with_assertion(reveal(HIGH), &c, elsewhere);
    refused(
        h.send(&who, elsewhere_sent.clone()),
        "origin other than the Web UI's",
    );

    // Without user verification.
    auth.verifies_user = false;
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let unverified = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    let unverified_sent = with_assertion(reveal(HIGH), &c, unverified);
    refused(
        h.send(&who, unverified_sent.clone()),
        "did not verify the user",
    );
    auth.verifies_user = true;

    // A passkey never enrolled.
    let mut stranger = Authenticator::new();
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let foreign = stranger.get(&c.json["answer"]["passkey"], ORIGIN);
    let foreign_sent = with_assertion(reveal(HIGH), &c, foreign);
    refused(h.send(&who, foreign_sent.clone()), "not enrolled");

    // The trail names each refusal and holds nothing of the assertions sent.
    let audit = h.audit_text();
    assert!(audit.contains("passkey-proof"));
    assert!(audit.contains("answers another challenge"));
    assert!(!holds_canary(&audit));
    for sent in [&proven, &elsewhere_sent, &unverified_sent, &foreign_sent] {
        let response = &sent["proof"]["passkey"]["response"];
        for part in ["signature", "clientDataJSON", "authenticatorData"] {
            let bytes = response[part].as_str().unwrap();
            assert!(
                !audit.contains(bytes),
                "the trail holds an assertion's {part}"
            );
        }
    }
}

/// A passphrase MAC for `request`'s challenge in `challenged`, with the vault's KDF as an
/// earlier challenge showed it (a passkey-only challenge does not show it).
fn passphrase_mac(who: &Who, request: &Value, challenged: &Answer, kdf_from: &Answer) -> Value {
    let challenge = challenged.json["challenge"].as_str().unwrap().to_string();
    let answer = &kdf_from.json["answer"]["passphrase"];
    let salt = hex::decode(answer["salt"].as_str().unwrap()).unwrap();
    let kdf: KdfParams = serde_json::from_value(answer["kdf"].clone()).unwrap();
    let key = proof::key_from_kek(&crypto::derive_kek(PASSPHRASE.as_bytes(), &salt, kdf).unwrap());
    let mac = hex::encode(proof::tag(
        &key,
        proof::Role::Client,
        &challenge,
        &digest(who, request),
    ));
    let mut proven = request.clone();
    proven["proof"] = json!({"challenge": challenge, "mac": mac});
    proven
}

#[test]
fn proof_kinds_passkey_alone_refuses_a_passphrase() {
    let mut h = vault();
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let who = human();
    let kdf_from = h.send(&who, reveal(LOW)).expect_needs_proof();
    h.daemon.config.proof_by_passphrase = false;
    h.daemon.config.proof_by_code = false;

    let c = h.send(&who, reveal(LOW)).expect_needs_proof();
    assert!(c.json["answer"]["passphrase"].is_null());
    assert!(c.text.contains("only a passkey is accepted"), "{}", c.text);
    let by_passphrase = passphrase_mac(&who, &reveal(LOW), &c, &kdf_from);
    refused(h.send(&who, by_passphrase), "passphrase is not accepted");
    let c = h.send(&who, reveal(LOW)).expect_needs_proof();
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    h.send(&who, with_assertion(reveal(LOW), &c, assertion))
        .expect_ok();
}

#[test]
fn passkey_for_high_asks_a_passkey_where_a_low_record_takes_a_passphrase() {
    let mut h = vault();
    h.daemon.config.passkey_for.high = true;
    let who = human();
    // No passkey yet: the rule waits, and a passphrase still answers for a high record.
    h.send_proven(&who, reveal(HIGH), PASSPHRASE).expect_ok();

    let mut auth = Authenticator::new();
    let id = enrol(&h, &mut auth);
    // A low record: the passphrase answers.
    let low = h.send_proven(&who, reveal(LOW), PASSPHRASE).expect_ok();
    assert_eq!(low.revealed(), b"low-value-1");
    // A high one: the passphrase proves nothing for it; a new challenge asks for a passkey.
    let first = h.send(&who, reveal(HIGH)).expect_needs_proof();
    assert!(
        first.json["answer"]["passphrase"].is_null(),
        "{}",
        first.text
    );
    assert!(first.text.contains("needs a passkey"), "{}", first.text);
    let kdf_from = h.send(&who, reveal(LOW)).expect_needs_proof();
    let by_passphrase = passphrase_mac(&who, &reveal(HIGH), &first, &kdf_from);
    let second = h.send(&who, by_passphrase).expect_needs_proof();
    let assertion = auth.get(&second.json["answer"]["passkey"], ORIGIN);
    let a = h
        .send(&who, with_assertion(reveal(HIGH), &second, assertion))
        .expect_ok();
    assert_eq!(a.revealed(), CANARY.as_bytes());

    // Removing the passkey (which would switch the rule off) needs a passkey too.
    let remove = json!({"op": "passkey-remove", "id": id});
    let c = h.send(&who, remove.clone()).expect_needs_proof();
    assert!(c.json["answer"]["passphrase"].is_null(), "{}", c.text);
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    h.send(&who, with_assertion(remove.clone(), &c, assertion))
        .expect_ok();
    let list = h.send(&who, json!({"op": "passkey-list"})).expect_ok();
    assert_eq!(list.reply()["passkeys"], json!([]));
    // Gone: the rule waits again.
    h.send_proven(&who, reveal(HIGH), PASSPHRASE).expect_ok();
    h.send_proven(&who, remove, PASSPHRASE)
        .expect_error(ErrorCode::PasskeyUnknown);
    assert!(h.audit_text().contains("passkey-remove"));
}

#[test]
fn passkey_for_holds_for_a_parked_request_too() {
    let mut h = vault();
    h.daemon.config.passkey_for.high = true;
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let agent = mcp(super::harness::full_scope());
    let remove = json!({"op": "remove", "coordinate": HIGH});
    let parked = h.send(&agent, remove.clone()).expect_needs_proof();
    let id = parked.json["approval"].as_str().unwrap().to_string();
    let approve = json!({"op": "approve", "id": id});
    // The human's passphrase does not approve what only a passkey could have answered.
    let first = h.send(&human(), approve.clone()).expect_needs_proof();
    assert!(
        first.json["answer"]["passphrase"].is_null(),
        "{}",
        first.text
    );
    let assertion = auth.get(&first.json["answer"]["passkey"], ORIGIN);
    h.send(&human(), with_assertion(approve, &first, assertion))
        .expect_ok();
    // The approval, given with a passkey, lets the parked request through.
    h.send(&agent, remove).expect_ok();
    h.send(&human(), json!({"op": "show", "coordinate": HIGH}))
        .expect_error(ErrorCode::NotFound);
}

/// A terminal cannot give a passkey: a human's request only a passkey answers is parked, and
/// approving it in the Web UI with the passkey lets the retried request through.
#[test]
fn a_humans_passkey_only_request_is_parked_for_the_web_ui() {
    let mut h = vault();
    h.daemon.config.passkey_for.high = true;
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let asked = h.send(&human(), reveal(HIGH)).expect_needs_proof();
    let id = asked.json["approval"].as_str().expect("parked").to_string();
    // A low record's challenge, which a passphrase answers, is not parked.
    let low = h.send(&human(), reveal(LOW)).expect_needs_proof();
    assert!(low.json["approval"].is_null(), "{}", low.text);
    let approve = json!({"op": "approve", "id": id});
    let c = h.send(&human(), approve.clone()).expect_needs_proof();
    assert!(c.json["approval"].is_null(), "approving is never parked");
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    h.send(&human(), with_assertion(approve, &c, assertion))
        .expect_ok();
    let a = h.send(&human(), reveal(HIGH)).expect_ok();
    assert_eq!(a.revealed(), CANARY.as_bytes());
}

/// The counter is written back: a copy of the authenticator whose counter fell behind (a
/// clone) is refused, and the stored counter and last use show in the listing.
#[test]
fn a_counter_that_does_not_advance_is_refused() {
    let h = vault();
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let who = human();
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    h.send(&who, with_assertion(reveal(HIGH), &c, assertion))
        .expect_ok();
    let list = h.send(&who, json!({"op": "passkey-list"})).expect_ok();
    assert!(list.reply()["passkeys"][0]["last_used"].is_u64());
    auth.counter = 0;
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    let cloned = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    refused(
        h.send(&who, with_assertion(reveal(HIGH), &c, cloned)),
        "counter did not advance",
    );
}

/// After an unattended unlock (a passphrase file any process of the user can read), a typed
/// passphrase proves nothing; an enrolled passkey still does.
#[test]
fn after_an_unattended_unlock_a_passkey_still_proves_presence() {
    let h = vault();
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    let who = human();
    h.send(&who, json!({"op": "lock"})).expect_ok();
    h.send(
        &who,
        json!({"op": "unlock", "passphrase": super::harness::b64(PASSPHRASE), "unattended": true}),
    )
    .expect_ok();
    let c = h.send(&who, reveal(HIGH)).expect_needs_proof();
    assert!(c.json["answer"]["passphrase"].is_null(), "{}", c.text);
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    let a = h
        .send(&who, with_assertion(reveal(HIGH), &c, assertion))
        .expect_ok();
    assert_eq!(a.revealed(), CANARY.as_bytes());
}

/// With `passkey_for` on and a passkey enrolled, a passphrase cannot add another passkey
/// (which would then answer for high records): only an enrolled passkey can.
#[test]
fn with_passkey_for_on_only_a_passkey_enrols_another() {
    let mut h = vault();
    let mut auth = Authenticator::new();
    enrol(&h, &mut auth);
    h.daemon.config.passkey_for.high = true;
    let c = h
        .send(&human(), begin("second", ORIGIN))
        .expect_needs_proof();
    assert!(c.json["answer"]["passphrase"].is_null(), "{}", c.text);
    let assertion = auth.get(&c.json["answer"]["passkey"], ORIGIN);
    let created = h
        .send(
            &human(),
            with_assertion(begin("second", ORIGIN), &c, assertion),
        )
        .expect_ok();
    assert!(created.reply()["ceremony"].is_string());
}
