//! Tampered, forwarded, forged and bad packages, and bad tokens, are refused and import
//! nothing.

use super::*;

/// A shares to a stock age identity X; B, with its own identity, holds both layers opened by
/// stock age: the material to rebuild packages from.
struct Opened {
    a: Sender,
    b: Home,
    ida: Identity,
    idb: Identity,
    s: Shared,
    token: String,
    work: PathBuf,
    inner: PathBuf,
    plain: Vec<u8>,
    payload: Value,
    mbytes: Vec<u8>,
    manifest: Value,
}

fn opened(tag: &str) -> Opened {
    let a = Sender::new(tag);
    let b = Home::init();
    let ida = identity(&a.h);
    let idb = identity(&b);
    let (key, recipient) = age_keygen(&a.h.root, "x.txt");
    let out = a.h.root.join("to-x.age");
    let s = share(&a.h, &share_args("dev", &recipient, &out, SHAREABLE));
    let token = s.token.clone();
    let work = b.root.join("work");
    std::fs::create_dir_all(&work).unwrap();

    // Both layers opened with stock age.
    let inner = work.join("inner.age");
    age_decrypt_outer(&key, &s.file, &inner);
    let plain =
        age_open_both(&b, &key, &s.file, &token).unwrap_or_else(|r| panic!("{}", r.describe()));
    let (payload, mbytes, manifest) = decode_payload(&plain);
    Opened {
        a,
        b,
        ida,
        idb,
        s,
        token,
        work,
        inner,
        plain,
        payload,
        mbytes,
        manifest,
    }
}

/// §3 in order, on packages rebuilt with stock age: a forwarded package (re-sealed to B
/// unchanged) is not for B; an edited manifest fails its signature; a wrong inner passphrase is
/// a wrong token; a payload that is not one is invalid.
#[test]
fn tampered_and_forwarded_packages_are_refused() {
    let Opened {
        a,
        b,
        idb,
        s,
        token,
        work,
        inner,
        plain,
        payload,
        mbytes,
        manifest,
        ..
    } = opened("tamper");
    let r = Refusals::new(&b);

    let reseal = |name: &str, payload_text: &[u8], pass: &str| -> PathBuf {
        let p = work.join(format!("{name}.json"));
        std::fs::write(&p, payload_text).unwrap();
        let i = work.join(format!("{name}.inner.age"));
        seal_token_layer(&p, &i, pass, 15);
        let pkg = work.join(format!("{name}.age"));
        age_encrypt_to(&idb.recipient, &i, &pkg);
        let _ = std::fs::remove_file(p);
        pkg
    };
    let with_manifest = |m: &[u8]| -> Vec<u8> {
        let mut p = payload.clone();
        p["manifest"] = Value::String(STANDARD.encode(m));
        serde_json::to_vec(&p).unwrap()
    };
    // A package whose payload carries manifest `m` (re-serialised), under the token.
    let resealed = |name: &str, m: &Value| -> PathBuf {
        reseal(
            name,
            &with_manifest(&serde_json::to_vec(m).unwrap()),
            &token,
        )
    };
    let bad_signature = ["signature-invalid"];
    let invalid = ["package-invalid"];

    // 1. Forwarded intact: the inner layer as is, the outer layer to B. Signed, but for X.
    let fwd = work.join("forwarded.age");
    age_encrypt_to(&idb.recipient, &inner, &fwd);
    r.both("forwarded", &fwd, &token, &["package-not-for-us"]);

    // 2. The manifest re-addressed to B: the signature no longer verifies.
    let mut m = manifest.clone();
    m["recipient"] = Value::String(idb.recipient.clone());
    r.file(
        "re-addressed",
        &resealed("readdressed", &m),
        &token,
        &bad_signature,
    );

    // 3. A sensitivity lowered, re-addressed too.
    let mut m2 = m.clone();
    for rec in m2["records"].as_array_mut().unwrap() {
        rec["sensitivity"] = json!("low");
        rec["revealable"] = json!(true);
    }
    r.file("lowered", &resealed("lowered", &m2), &token, &bad_signature);

    // 4. A production record added.
    let mut m3 = m.clone();
    m3["records"].as_array_mut().unwrap().push(json!({
        "coordinate": "secret:prod/db/password", "sensitivity": "low", "revealable": true,
        "description": "", "totp": null, "value": STANDARD.encode(b"planted"),
    }));
    let pkg = resealed("prod-added", &m3);
    r.file("production record added", &pkg, &token, &bad_signature);

    // 5. One byte of the original manifest changed (whitespace-free edit of the bytes).
    let mut mb = mbytes.clone();
    let at = mb.len() / 2;
    mb[at] = if mb[at] == b'a' { b'b' } else { b'a' };
    let pkg = reseal("byte", &with_manifest(&mb), &token);
    r.file(
        "manifest byte",
        &pkg,
        &token,
        &["signature-invalid", "package-invalid"],
    );

    // 6. Not a payload, or an unknown format.
    let pkg = reseal("not-json", b"this is not json", &token);
    r.file("not JSON", &pkg, &token, &invalid);
    let mut p = payload.clone();
    p["format"] = json!("kovra-share-v9");
    let pkg = reseal("format", &serde_json::to_vec(&p).unwrap(), &token);
    r.file("unknown format", &pkg, &token, &invalid);

    // 7. The inner layer under another passphrase: the token no longer opens it.
    let pkg = reseal("other-pass", &plain, &random_token());
    r.file("other passphrase", &pkg, &token, &["token-invalid"]);

    // 8. The inner layer at stock `age -p`'s scrypt work factor (2^18, above kovra's 2^16
    // ceiling): refused before any work, whatever it holds (a stranger who knows B's public
    // recipient must not make the daemon spend gigabytes and seconds).
    let p = work.join("heavy.json");
    std::fs::write(&p, &plain).unwrap();
    let heavy_inner = work.join("heavy.inner.age");
    age_encrypt_passphrase(&b, &p, &heavy_inner, &token);
    let _ = std::fs::remove_file(&p);
    let header = std::fs::read(&heavy_inner).unwrap();
    assert!(
        contains(&header[..header.len().min(200)], b" 18\n"),
        "stock age no longer seals at 2^18: {:?}",
        String::from_utf8_lossy(&header[..header.len().min(120)])
    );
    let heavy = work.join("heavy.age");
    age_encrypt_to(&idb.recipient, &heavy_inner, &heavy);
    r.file("work factor 2^18", &heavy, &token, &invalid);

    assert_no_values(&[&a.h, &b], &a.values(), &[&s.file]);
    assert_token_nowhere(&[&b], &token, &[]);
}

/// §3: packages forged by an attacker who signs with a key of their own: that is the
/// attacker's fingerprint (never A's, even claiming A's), refused for production and expiry
/// before the sender is considered, and for being unknown.
#[test]
fn forged_packages_are_refused() {
    let Opened {
        a,
        b,
        ida,
        idb,
        s,
        token,
        work,
        manifest,
        ..
    } = opened("forge");
    // B accepts A through a genuine package, for the impersonation case below.
    let genuine_out = a.h.root.join("to-b.age");
    let genuine = share(
        &a.h,
        &share_args("dev", &idb.recipient, &genuine_out, &["--group", "db"]),
    );
    let run = receive_tty(&b, &genuine.file, &genuine.token, "y", &[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let r = Refusals::new(&b);
    assert_eq!(coordinates(&b), vec![MEDIUM]);

    // Forged packages, validly signed by a key of the attacker's.
    let seed = random_bytes::<32>();
    require_python_module("cryptography");
    let forger_key = python_public(&seed).expect("python3 cryptography: the forger's key");
    // Written the way kovra writes its own keys (padded or not).
    let forger_key = if ida.signing_key.ends_with('=') {
        format!("{forger_key}=")
    } else {
        forger_key
    };
    let (_, forger_recipient) = age_keygen(&work, "forger.txt");
    let forger_fp = expected_fingerprint(
        &forger_recipient,
        &b64url_decode(forger_key.trim_start_matches("ed25519:")),
    );
    let base = |records: Value| -> Value {
        let mut f = manifest.clone();
        f["package_id"] = json!(hex::encode(random_bytes::<16>()));
        f["sender"] = json!({"recipient": forger_recipient, "signing_key": forger_key, "fingerprint": forger_fp});
        f["recipient"] = json!(idb.recipient);
        f["created"] = json!(now() - 5);
        f["expires"] = json!(now() + 3600);
        f["records"] = records;
        f
    };
    let planted = canary("tamper-planted");
    let rec = |coord: &str| {
        json!({
            "coordinate": coord, "sensitivity": "low", "revealable": true,
            "description": "planted", "totp": null, "value": STANDARD.encode(planted.as_bytes()),
        })
    };
    let ftoken = random_token();
    // Forge manifest `f`, then receive it: refused with one of `codes`.
    let refuse_forged = |what: &str, f: &Value, codes: &[&str]| -> Output {
        let pkg = forge(&b, f, &seed, &ftoken, &idb.recipient).unwrap();
        r.file(what, &pkg, &ftoken, codes)
    };
    let not_a = ["sender-unknown", "signature-invalid", "package-invalid"];

    // F1: unknown sender, shown by the forger's own fingerprint.
    let f = base(json!([rec("secret:dev/planted/one")]));
    let o = refuse_forged("forged, unknown sender", &f, &["sender-unknown"]);
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.contains(&forger_fp) && !text.contains(&ida.fingerprint),
        "{}",
        describe(&o)
    );
    // F2: claiming A's fingerprint (A is accepted) does not make it A's.
    let mut f = base(json!([rec("secret:dev/planted/two")]));
    f["sender"]["fingerprint"] = json!(ida.fingerprint);
    refuse_forged("forged, claiming A", &f, &not_a);
    // …nor does naming A's encryption key as the sender's recipient.
    let mut f = base(json!([rec("secret:dev/planted/three")]));
    f["sender"] = json!({"recipient": ida.recipient, "signing_key": forger_key, "fingerprint": ida.fingerprint});
    refuse_forged("forged, A's recipient", &f, &not_a);
    // F4: production, refused by policy before the sender is even considered.
    let mut f = base(json!([rec("secret:prod/planted/four")]));
    f["environment"] = json!("prod");
    refuse_forged("forged, production", &f, &["policy-denied"]);
    // …also hidden among records of another environment (a package that mixes environments
    // may fairly be called invalid instead).
    let f = base(json!([
        rec("secret:dev/planted/four"),
        rec("secret:prod/planted/four")
    ]));
    let mixed = ["policy-denied", "package-invalid"];
    refuse_forged("forged, production among dev", &f, &mixed);
    let mut f = base(json!([rec("secret:production/planted/five")]));
    f["environment"] = json!("production");
    refuse_forged("forged, production environment", &f, &["policy-denied"]);
    // F5: expired, and not yet valid (created in the future: outside created…expires).
    for (what, coord, created, expires) in [
        (
            "forged, expired",
            "secret:dev/planted/six",
            now() - 7200,
            now() - 3600,
        ),
        (
            "forged, from the future",
            "secret:dev/planted/seven",
            now() + 3600,
            now() + 7200,
        ),
    ] {
        let mut f = base(json!([rec(coord)]));
        f["created"] = json!(created);
        f["expires"] = json!(expires);
        refuse_forged(what, &f, &["package-expired"]);
    }
    // F7: a lifetime beyond the 30 days `share --ttl` allows (a package that would stay
    // receivable for years): invalid, before the sender is considered.
    for (what, coord, lifetime) in [
        (
            "forged, 31-day lifetime",
            "secret:dev/planted/ttl31",
            31 * 86400,
        ),
        (
            "forged, ten-year lifetime",
            "secret:dev/planted/ttl10y",
            10 * 365 * 86400,
        ),
    ] {
        let mut f = base(json!([rec(coord)]));
        let created = now() - 5;
        f["created"] = json!(created);
        f["expires"] = json!(created + lifetime);
        refuse_forged(what, &f, &["package-invalid"]);
    }
    // F6: duplicate and invalid coordinates.
    let f = base(json!([
        rec("secret:dev/planted/dup"),
        rec("secret:dev/planted/dup")
    ]));
    refuse_forged("forged, duplicate coordinates", &f, &["package-invalid"]);
    let f = base(json!([rec("secret:dev/../etc")]));
    refuse_forged("forged, invalid coordinate", &f, &["package-invalid"]);

    let mut values = a.values();
    values.push(&planted);
    assert_no_values(&[&a.h, &b], &values, &[&s.file, &genuine.file]);
    assert_token_nowhere(&[&b], &token, &[]);
}

/// §3: wrong token, package for someone else, truncated and corrupted files; each refused
/// with nothing imported, none of them uses the package up.
#[test]
fn bad_packages_and_tokens_import_nothing() {
    let a = Sender::new("bad");
    let b = Home::init();
    let c = Home::init();
    let idb = identity(&b);
    let idc = identity(&c);
    let own = canary("bad-own");
    add_ok(&b, "secret:dev/own/thing", &own, &[]);
    let r = Refusals::new(&b);
    let pb = a.h.root.join("to-b.age");
    let to_b = share(&a.h, &share_args("dev", &idb.recipient, &pb, SHAREABLE));
    let pc = a.h.root.join("to-c.age");
    let to_c = share(
        &a.h,
        &share_args("dev", &idc.recipient, &pc, &["--group", "db"]),
    );

    let wrong = random_token();
    let token_invalid = ["token-invalid"];
    r.file("wrong token", &to_b.file, &wrong, &token_invalid);
    r.file("not a token", &to_b.file, "hello", &token_invalid);
    r.tty(
        "wrong token at a terminal",
        &to_b.file,
        &wrong,
        &token_invalid,
    );
    r.file("for C", &to_c.file, &to_c.token, &["package-not-for-us"]);

    let bytes = std::fs::read(&to_b.file).unwrap();
    let write = |name: &str, data: &[u8]| {
        let p = b.root.join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let truncated = write("truncated.age", &bytes[..bytes.len() / 2]);
    let mut corrupt = bytes.clone();
    // A base64 character in the middle of the armored body, swapped for another.
    let mid = corrupt.len() / 2;
    let at = (mid..corrupt.len())
        .find(|&i| corrupt[i].is_ascii_alphanumeric())
        .unwrap();
    corrupt[at] = if corrupt[at] == b'A' { b'B' } else { b'A' };
    let corrupted = write("corrupted.age", &corrupt);
    let tail_cut = write("tail-cut.age", &bytes[..bytes.len() - 40]);
    let empty = write("empty.age", b"");
    let junk = write(
        "junk.age",
        b"-----BEGIN AGE ENCRYPTED FILE-----\nnot age at all\n-----END AGE ENCRYPTED FILE-----\n",
    );
    for (what, p) in [
        ("truncated", &truncated),
        ("corrupted", &corrupted),
        ("tail cut", &tail_cut),
        ("empty", &empty),
        ("junk", &junk),
    ] {
        r.file(
            what,
            p,
            &to_b.token,
            &["package-invalid", "package-not-for-us"],
        );
    }
    let o = receive_file(&b, &b.root.join("no-such.age"), &to_b.token, &[]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert_eq!(records(&b), r.before);
    let receives = audit_entries(&b, "receive");
    let denied = receives.iter().filter(|e| e["decision"] == "deny").count();
    assert!(denied >= 4, "refusals are not audited: {receives:?}");
    let text = serde_json::to_string(&receives).unwrap();
    assert!(
        text.contains("token-invalid") && text.contains("package-not-for-us"),
        "{text}"
    );

    // None of that used the package up: the right token (case and spaces forgiven) works.
    let sloppy = format!("  {}  ", to_b.token.to_lowercase().replace('-', " - "));
    let tf = token_file(&b, &sloppy);
    let run = kpty(
        &b,
        &[
            "receive",
            to_b.file.to_str().unwrap(),
            "--token-file",
            tf.to_str().unwrap(),
        ],
        &[(YES_NO, "y", 1), PROOF[0]],
    );
    let _ = std::fs::remove_file(tf);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(
        coordinates(&b),
        vec![HIGH, LOW, MEDIUM, "secret:dev/own/thing"]
    );
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(a.medium.as_bytes()));
    // C never received anything.
    assert!(coordinates(&c).is_empty());
    let mut values = a.values();
    values.push(&own);
    assert_no_values(
        &[&a.h, &b, &c],
        &values,
        &[&to_b.file, &to_c.file, &corrupted],
    );
}
