use super::*;

fn body_of(pem: &[u8]) -> String {
    let text = std::str::from_utf8(pem).unwrap();
    text.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[test]
fn each_type_generates_signs_and_verifies() {
    for kind in KeyType::ALL {
        let made = generate(kind, "secret:dev/ssh/deploy").unwrap();
        let public = ssh_key::PublicKey::from_openssh(&made.info.public_key).unwrap();
        assert!(made.info.public_key.ends_with(" secret:dev/ssh/deploy"));
        assert_eq!(
            made.info.fingerprint,
            public.fingerprint(HashAlg::Sha256).to_string()
        );
        let armored =
            sshsig(&made.private, "file", b"hello").unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(armored.starts_with("-----BEGIN SSH SIGNATURE-----"));
        let sig = ssh_key::SshSig::from_pem(armored.as_bytes()).unwrap();
        public.verify("file", b"hello", &sig).unwrap();
        assert!(public.verify("git", b"hello", &sig).is_err());
        assert!(public.verify("file", b"hellO", &sig).is_err());
        let raw = sign(&made.private, b"challenge").unwrap();
        assert!(!raw.as_bytes().is_empty());
    }
}

#[test]
fn import_round_trips_and_keeps_the_public_half() {
    let made = generate(KeyType::Ed25519, "me@host").unwrap();
    let padded = [b"\n\n".as_slice(), made.private.expose(), b"\n"].concat();
    let again = import(&padded, None).unwrap();
    assert_eq!(again.info, made.info);
    assert_eq!(again.private, made.private);
}

#[test]
fn a_protected_key_needs_its_passphrase_and_is_kept_decrypted() {
    let made = generate(KeyType::EcdsaP256, "c").unwrap();
    let key = PrivateKey::from_openssh(std::str::from_utf8(made.private.expose()).unwrap())
        .unwrap()
        .encrypt(&mut OsRng, "correct horse")
        .unwrap();
    let locked = key.to_openssh(LineEnding::LF).unwrap();
    assert!(is_encrypted(locked.as_bytes()));
    assert!(!is_encrypted(made.private.expose()));
    assert_eq!(
        import(locked.as_bytes(), None).unwrap_err(),
        SshKeyError::PassphraseNeeded
    );
    assert_eq!(
        import(locked.as_bytes(), Some(b"wrong")).unwrap_err(),
        SshKeyError::WrongPassphrase
    );
    let opened = import(locked.as_bytes(), Some(b"correct horse")).unwrap();
    assert_eq!(opened.info, made.info);
    assert!(!is_encrypted(opened.private.expose()));
}

#[test]
fn what_is_not_a_private_key_is_named() {
    let made = generate(KeyType::Ed25519, "c").unwrap();
    assert_eq!(
        import(made.info.public_key.as_bytes(), None).unwrap_err(),
        SshKeyError::PublicKeyGiven
    );
    assert_eq!(import(b"hunter2", None).unwrap_err(), SshKeyError::NotAKey);
    assert_eq!(
        import(&[0xff, 0xfe], None).unwrap_err(),
        SshKeyError::NotAKey
    );
    assert_eq!(
        import(
            b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
            None
        )
        .unwrap_err(),
        SshKeyError::LegacyFormat
    );
    // A damaged body is refused, and the error says nothing of it.
    let text = std::str::from_utf8(made.private.expose()).unwrap();
    let damaged = text.replacen("AAAA", "AAAB", 2);
    let e = import(damaged.as_bytes(), None).unwrap_err();
    assert!(
        !e.to_string()
            .contains(&body_of(made.private.expose())[..16])
    );
}

#[test]
fn debug_never_shows_the_private_key() {
    let made = generate(KeyType::Ed25519, "c").unwrap();
    let shown = format!("{made:?}");
    let body = body_of(made.private.expose());
    assert!(!shown.contains(&body[..24]), "{shown}");
    assert!(shown.contains(&made.info.fingerprint));
}

#[test]
fn key_types_parse_by_name() {
    for kind in KeyType::ALL {
        assert_eq!(kind.as_str().parse::<KeyType>().unwrap(), kind);
    }
    assert!("dsa".parse::<KeyType>().is_err());
    assert!(sshsig(&SecretBytes::from_slice(b"x"), "", b"").is_err());
}

#[test]
fn the_signed_data_is_what_ssh_key_builds() {
    use sha2::Digest;
    let msg = b"some file contents";
    let digest: [u8; 64] = sha2::Sha512::digest(msg).into();
    assert_eq!(
        signed_data("file", &digest),
        ssh_key::SshSig::signed_data("file", HashAlg::Sha512, msg).unwrap()
    );
}

#[test]
fn an_rsa_signature_uses_the_hash_asked_for_and_never_sha1() {
    let made = generate(KeyType::Rsa3072, "rsa").unwrap();
    let public = ssh_key::PublicKey::from_openssh(&made.info.public_key).unwrap();
    for (flags, hash) in [
        (2, HashAlg::Sha256),
        (4, HashAlg::Sha512),
        (6, HashAlg::Sha512),
    ] {
        let asked = RsaHash::from_agent_flags(flags);
        let sig = sign_with(&made.private, b"challenge", asked).unwrap();
        assert_eq!(
            sig.algorithm(),
            Algorithm::Rsa { hash: Some(hash) },
            "flags {flags}"
        );
        use signature::Verifier;
        public.key_data().verify(b"challenge", &sig).unwrap();
        assert!(public.key_data().verify(b"challengE", &sig).is_err());
    }
    assert_eq!(RsaHash::from_agent_flags(0), None);
    assert_eq!(
        sign_with(&made.private, b"challenge", None).unwrap_err(),
        SshKeyError::Sha1
    );
    // Other key types sign whatever the flags say.
    let ed = generate(KeyType::Ed25519, "ed").unwrap();
    assert_eq!(
        sign_with(&ed.private, b"challenge", None)
            .unwrap()
            .algorithm(),
        Algorithm::Ed25519
    );
}
