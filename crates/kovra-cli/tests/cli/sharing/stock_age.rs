//! A package opens with Debian's stock `age`, from an X25519 or an ssh-ed25519 recipient.

use super::*;

/// §2: a package opens with Debian's stock `age` given both the identity and the token, and
/// with neither alone. The payload is the documented JSON, signed as documented.
#[test]
fn stock_age_opens_a_package_with_identity_and_token_and_not_with_either_alone() {
    let a = Sender::new("age");
    let ida = identity(&a.h);
    let (key, recipient) = age_keygen(&a.h.root, "age-identity.txt");
    let (other_key, _) = age_keygen(&a.h.root, "other-identity.txt");
    let outdir = a.h.root.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let mut args = vec!["--env", "dev", "--to", &recipient];
    args.extend_from_slice(SHAREABLE);
    let s = share_in(&a.h, &args, Some(&outdir));
    let token = s.token.clone();
    assert!(
        s.run.tty.matches(&token).count() == 1,
        "the token is shown once: {}",
        s.run.describe()
    );

    // The outer layer is armored age to the recipient.
    let bytes = std::fs::read(&s.file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );

    // The identity alone: the outer layer opens, to an age scrypt file, not the values.
    let inner = a.h.root.join("inner.age");
    age_decrypt_outer(&key, &s.file, &inner);
    let inner_bytes = std::fs::read(&inner).unwrap();
    assert!(
        inner_bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "),
        "the inner layer is not a passphrase-only age file: {:?}",
        String::from_utf8_lossy(&inner_bytes[..inner_bytes.len().min(120)])
    );
    let stanzas = inner_bytes
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"-> "))
        .count();
    assert_eq!(
        stanzas, 1,
        "the inner layer has other recipients than scrypt"
    );

    // A wrong identity: refused by age.
    let o = Command::new("age")
        .args(["-d", "-i"])
        .arg(&other_key)
        .arg(&s.file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success(), "another identity opened it");
    assert!(o.stdout.is_empty());
    assert!(age_open_both(&a.h, &other_key, &s.file, &token).is_err());

    // The token alone cannot open the outer layer (age has nothing to try it on).
    let alone = a.h.root.join("token-alone");
    let run = sh_pty(
        &a.h,
        &a.h.root,
        &format!("age -d -o '{}' '{}'", alone.display(), s.file.display()),
        &token,
    );
    assert_ne!(
        run.code,
        Some(0),
        "the token alone opened it: {}",
        run.describe()
    );
    assert!(std::fs::read(&alone).map(|b| b.is_empty()).unwrap_or(true));
    // …and a wrong token does not open the inner one.
    let err = age_open_both(&a.h, &key, &s.file, &random_token()).unwrap_err();
    assert!(
        err.all().contains("incorrect passphrase"),
        "{}",
        err.describe()
    );

    // Both: the payload.
    let (payload, mbytes, m) = age_open_payload(&a.h, &key, &s.file, &token);
    assert_eq!(m["version"], 1, "{m}");
    let id = m["package_id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{m}"
    );
    let name = s.file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name,
        format!("kovra-share-dev-{}.age", &id[..8]),
        "default --out"
    );
    assert_eq!(m["sender"]["recipient"], ida.recipient.as_str(), "{m}");
    assert_eq!(m["sender"]["signing_key"], ida.signing_key.as_str(), "{m}");
    assert_eq!(m["sender"]["fingerprint"], ida.fingerprint.as_str(), "{m}");
    assert_eq!(m["recipient"], recipient.as_str(), "{m}");
    assert_eq!(m["environment"], "dev", "{m}");
    assert!(m["project"].is_null(), "{m}");
    let (created, expires) = (
        m["created"].as_u64().unwrap(),
        m["expires"].as_u64().unwrap(),
    );
    assert!(created.abs_diff(now()) < 120, "{m}");
    assert_eq!(expires - created, 7 * 86400, "default ttl 7d: {m}");
    // The stdout report names the package.
    assert!(
        s.run.stdout.contains(id),
        "stdout does not name the package: {}",
        s.run.describe()
    );

    let recs = m["records"].as_array().unwrap();
    let mut coords: Vec<&str> = recs
        .iter()
        .map(|r| r["coordinate"].as_str().unwrap())
        .collect();
    coords.sort();
    assert_eq!(coords, vec![HIGH, LOW, MEDIUM], "{m}");
    let want = [
        (LOW, &a.low, "low", true, "the app token (low)"),
        (MEDIUM, &a.medium, "medium", false, "dev database"),
        (HIGH, &a.high, "high", false, "upstream API key"),
    ];
    for (coord, value, sens, revealable, desc) in want {
        let r = recs.iter().find(|r| r["coordinate"] == coord).unwrap();
        let v = STANDARD.decode(r["value"].as_str().unwrap()).unwrap();
        assert_eq!(v, value.as_bytes(), "{coord}");
        assert_eq!(r["sensitivity"], sens, "{r}");
        assert_eq!(r["revealable"], revealable, "{r}");
        assert_eq!(r["description"], desc, "{r}");
        assert!(r.get("totp").is_some_and(Value::is_null), "{r}");
    }
    require_python_module("cryptography");
    assert_eq!(
        python_verify(
            &mbytes,
            payload["signature"].as_str().unwrap(),
            &ida.signing_key,
        ),
        Some(true),
        "the signature does not verify with an independent Ed25519"
    );

    // Nothing but the terminal saw the token; no value left the packages in the clear.
    assert_token_nowhere(&[&a.h], &token, &[&outdir]);
    assert_no_values(&[&a.h], &a.values(), &[&s.file, &inner]);
    let shares = audit_entries(&a.h, "share");
    assert!(
        shares.iter().any(|e| e.to_string().contains(id)),
        "no share audit entry names the package: {shares:?}"
    );
}

/// §2: an `ssh-ed25519` public key is a recipient too (given as a file), and stock age opens
/// the package with the private key.
#[test]
fn an_ssh_ed25519_recipient_opens_with_stock_age() {
    let a = Sender::new("ssh");
    let key = a.h.root.join("id_ed25519");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "kovra-test", "-f"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "{}", describe(&o));
    let pubfile = a.h.root.join("id_ed25519.pub");
    let out = a.h.root.join("pkg.age");
    let s = share(
        &a.h,
        &share_args("dev", pubfile.to_str().unwrap(), &out, SHAREABLE),
    );
    // The same key given inline, too.
    let line = std::fs::read_to_string(&pubfile).unwrap();
    let out2 = a.h.root.join("pkg2.age");
    let db_1h = ["--group", "db", "--ttl", "1h"];
    let s2 = share(&a.h, &share_args("dev", line.trim(), &out2, &db_1h));

    let (_, _, m) = age_open_payload(&a.h, &key, &s.file, &s.token);
    let recs = m["records"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "{m}");
    let r = recs.iter().find(|r| r["coordinate"] == HIGH).unwrap();
    assert_eq!(
        STANDARD.decode(r["value"].as_str().unwrap()).unwrap(),
        a.high.as_bytes()
    );

    let (_, _, m) = age_open_payload(&a.h, &key, &s2.file, &s2.token);
    assert_eq!(m["records"].as_array().unwrap().len(), 1, "{m}");
    assert_eq!(
        m["expires"].as_u64().unwrap() - m["created"].as_u64().unwrap(),
        3600,
        "{m}"
    );
    // The tokens differ per package.
    assert_ne!(s.token, s2.token);
    assert_no_values(&[&a.h], &a.values(), &[&s.file, &s2.file]);
}
