//! Format 1 pinned byte for byte. Each file in `tests/vectors/` holds fixed inputs and the
//! exact bytes this module must make of them (its README says what each field is). A change
//! that alters any of them cannot open an existing vault: it is a new format, not a refactor.

use serde_json::{Value as Json, json};

use super::*;
use crate::store::locked::{Header, unwrap_root as unwrap_with_passphrase};

const KEYS: &str = include_str!("../../../tests/vectors/keys.json");
const ROOT: &str = include_str!("../../../tests/vectors/root.json");
const DEK: &str = include_str!("../../../tests/vectors/dek.json");
const RECORD: &str = include_str!("../../../tests/vectors/record.json");

fn parse(text: &str) -> Json {
    serde_json::from_str(text).unwrap()
}

fn bytes(d: &Json, field: &str) -> Vec<u8> {
    hex::decode(
        d[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing")),
    )
    .unwrap()
}

fn array<const N: usize>(d: &Json, field: &str) -> [u8; N] {
    bytes(d, field).try_into().unwrap()
}

fn key(d: &Json, field: &str) -> Key {
    crypto::key_from_slice(&bytes(d, field)).unwrap()
}

fn text<'a>(d: &'a Json, field: &str) -> &'a str {
    d[field].as_str().unwrap()
}

fn flipped(b: &[u8], at: usize) -> Vec<u8> {
    let mut b = b.to_vec();
    b[at] ^= 1;
    b
}

fn kdf(d: &Json) -> KdfParams {
    serde_json::from_value(d["kdf"].clone()).unwrap()
}

/// Subkeys, lookups, a state element and a header MAC from a fixed root key.
fn keys_outputs(i: &Json) -> Json {
    let root = key(i, "root");
    let sub = |p: &str| hex::encode(crypto::subkey(&root, p).as_ref());
    let index = crypto::KeyedMac::new(&crypto::subkey(&root, "index"));
    let global = vault_lookup(&index, &VaultName::Global);
    let project = vault_lookup(&index, &VaultName::Project(text(i, "project").into()));
    let coord = Coordinate::parse(text(i, "coordinate")).unwrap();
    let record = record_lookup(&index, &VaultName::Global, &coord);
    let version = i["version"].as_u64().unwrap();
    let state = state_element(&crypto::subkey(&root, "state"), &record, &global, version);
    let mac = header_mac(
        &crypto::subkey(&root, "header"),
        &bytes(i, "uuid"),
        &array(i, "state_tag"),
        i["audit_seq"].as_u64().unwrap(),
        &array(i, "audit_head"),
    );
    json!({
        "subkey_index": sub("index"),
        "subkey_state": sub("state"),
        "subkey_wrap": sub("wrap"),
        "subkey_fingerprint": sub("fingerprint"),
        "subkey_header": sub("header"),
        "subkey_audit_seal": sub("audit-seal"),
        "subkey_audit_mac": sub("audit-mac"),
        "vault_lookup_global": hex::encode(global),
        "vault_lookup_project": hex::encode(project),
        "record_lookup": hex::encode(record),
        "state_element": hex::encode(state),
        "header_mac": hex::encode(mac),
    })
}

/// The passphrase's key-encryption key and the wrapped root key.
fn root_outputs(i: &Json) -> Json {
    let kdf = kdf(i);
    let (uuid, salt) = (bytes(i, "uuid"), bytes(i, "salt"));
    let kek = crypto::derive_kek(text(i, "passphrase").as_bytes(), &salt, kdf).unwrap();
    let wrapped = wrap_root_with(
        &array(i, "nonce"),
        &kek,
        &uuid,
        &kdf,
        &salt,
        &key(i, "root"),
    );
    json!({
        "kek": hex::encode(kek.as_ref()),
        "root_aad": hex::encode(root_aad(&uuid, &kdf, &salt)),
        "wrapped_root": hex::encode(wrapped),
    })
}

/// A vault's wrapped data key and sealed name.
fn dek_outputs(i: &Json) -> Json {
    let (wrap, uuid, vault) = (key(i, "wrap"), bytes(i, "uuid"), array(i, "vault_lookup"));
    let name: VaultName = serde_json::from_value(i["name"].clone()).unwrap();
    json!({
        "dek_aad": hex::encode(dek_aad(&uuid, &vault)),
        "wrapped_dek": hex::encode(wrap_dek_with(&array(i, "dek_nonce"), &wrap, &uuid, &vault, &key(i, "dek"))),
        "name_aad": hex::encode(vault_name_aad(&vault)),
        "sealed_name": hex::encode(seal_vault_name_with(&array(i, "name_nonce"), &wrap, &vault, &name)),
    })
}

struct RecordInputs {
    dek: Key,
    uuid: Vec<u8>,
    vault: Lookup,
    record: Lookup,
    version: u64,
    meta: Metadata,
    value: Vec<u8>,
}

impl RecordInputs {
    fn from(i: &Json) -> Self {
        RecordInputs {
            dek: key(i, "dek"),
            uuid: bytes(i, "uuid"),
            vault: array(i, "vault_lookup"),
            record: array(i, "record_lookup"),
            version: i["version"].as_u64().unwrap(),
            meta: serde_json::from_value(i["meta"].clone()).unwrap(),
            value: text(i, "value").as_bytes().to_vec(),
        }
    }

    fn slot(&self) -> Slot<'_> {
        Slot {
            uuid: &self.uuid,
            vault: &self.vault,
            record: &self.record,
            version: self.version,
        }
    }
}

/// One record version: its metadata JSON, both AADs and both sealed columns.
fn record_outputs(i: &Json) -> Json {
    let r = RecordInputs::from(i);
    let json = meta_json(&r.meta);
    let nonces = [&array(i, "meta_nonce"), &array(i, "value_nonce")];
    let sealed = seal_version_with(nonces, &r.dek, &r.slot(), &json, &r.value);
    json!({
        "meta_json": String::from_utf8(json).unwrap(),
        "meta_aad": hex::encode(r.slot().meta_aad()),
        "value_aad": hex::encode(r.slot().value_aad(&sealed.meta)),
        "sealed_meta": hex::encode(&sealed.meta),
        "sealed_value": hex::encode(&sealed.value),
    })
}

fn check(file: &str, text: &str, outputs: fn(&Json) -> Json) -> Json {
    let doc = parse(text);
    assert_eq!(
        outputs(&doc["inputs"]),
        doc["outputs"],
        "{file}: the format changed"
    );
    doc
}

#[test]
fn keys_and_lookups_match_the_vector() {
    check("keys.json", KEYS, keys_outputs);
}

#[test]
fn the_root_wrapping_matches_the_vector_and_opens_only_as_stored() {
    let doc = check("root.json", ROOT, root_outputs);
    let (i, o) = (&doc["inputs"], &doc["outputs"]);
    let (uuid, salt, kdf) = (bytes(i, "uuid"), bytes(i, "salt"), kdf(i));
    let wrapped = bytes(o, "wrapped_root");
    let header = |uuid: Vec<u8>, wrapped_root: Vec<u8>| Header {
        uuid,
        kdf,
        salt: salt.clone(),
        wrapped_root,
        state_mac: Vec::new(),
        audit_seq: 0,
        audit_head: Vec::new(),
    };
    let passphrase = text(i, "passphrase").as_bytes();
    let (root, kek) =
        unwrap_with_passphrase(&header(uuid.clone(), wrapped.clone()), passphrase).unwrap();
    assert_eq!(root.as_ref(), key(i, "root").as_ref());
    assert_eq!(kek.as_ref(), key(o, "kek").as_ref());
    assert!(unwrap_with_passphrase(&header(uuid.clone(), wrapped.clone()), b"another").is_err());
    assert!(
        unwrap_with_passphrase(&header(uuid.clone(), flipped(&wrapped, 30)), passphrase).is_err()
    );
    assert!(
        unwrap_with_passphrase(&header(flipped(&uuid, 0), wrapped.clone()), passphrase).is_err()
    );
    // The AAD binds the cost: the same key under a lowered `t` does not open.
    let cheaper = KdfParams {
        t: kdf.t + 1,
        ..kdf
    };
    assert!(unwrap_root(&kek, &uuid, &cheaper, &salt, &wrapped).is_err());
}

#[test]
fn the_data_key_and_vault_name_match_the_vector_and_open_only_in_place() {
    let doc = check("dek.json", DEK, dek_outputs);
    let (i, o) = (&doc["inputs"], &doc["outputs"]);
    let (wrap, uuid, vault) = (
        key(i, "wrap"),
        bytes(i, "uuid"),
        array::<32>(i, "vault_lookup"),
    );
    let wrapped = bytes(o, "wrapped_dek");
    let dek = unwrap_dek(&wrap, &uuid, &vault, &wrapped).unwrap();
    assert_eq!(dek.as_ref(), key(i, "dek").as_ref());
    assert_eq!(
        unwrap_dek(&wrap, &uuid, &vault, &flipped(&wrapped, 40)).err(),
        Some(DekProblem::Unauthentic)
    );
    let other_vault = flipped(&vault, 31).try_into().unwrap();
    assert!(unwrap_dek(&wrap, &uuid, &other_vault, &wrapped).is_err());
    let sealed = bytes(o, "sealed_name");
    let name: VaultName = serde_json::from_value(i["name"].clone()).unwrap();
    assert_eq!(open_vault_name(&wrap, &vault, &sealed).unwrap(), Some(name));
    assert!(open_vault_name(&wrap, &vault, &flipped(&sealed, 24)).is_err());
    assert!(open_vault_name(&wrap, &other_vault, &sealed).is_err());
}

#[test]
fn a_record_version_matches_the_vector_and_opens_only_in_place() {
    let doc = check("record.json", RECORD, record_outputs);
    let (i, o) = (&doc["inputs"], &doc["outputs"]);
    let r = RecordInputs::from(i);
    let (meta, value) = (bytes(o, "sealed_meta"), bytes(o, "sealed_value"));
    let slot = r.slot();
    assert_eq!(open_meta(&r.dek, &slot, &meta).unwrap(), r.meta);
    assert_eq!(
        open_value(&r.dek, &slot, &meta, &value).unwrap().as_slice(),
        r.value
    );
    // A flipped byte anywhere in either column.
    for at in [0, 24, meta.len() - 1] {
        assert!(open_meta(&r.dek, &slot, &flipped(&meta, at)).is_err());
        // The value's AAD binds the exact metadata blob.
        assert!(open_value(&r.dek, &slot, &flipped(&meta, at), &value).is_err());
    }
    for at in [0, 24, value.len() - 1] {
        assert!(open_value(&r.dek, &slot, &meta, &flipped(&value, at)).is_err());
    }
    // The wrong AAD: another version, record, vault or vault home.
    let other: Lookup = flipped(&r.record, 0).try_into().unwrap();
    let moved = [
        Slot {
            version: r.version + 1,
            ..slot
        },
        Slot {
            record: &other,
            ..slot
        },
        Slot {
            vault: &other,
            ..slot
        },
        Slot {
            uuid: &r.record[..16],
            ..slot
        },
    ];
    for wrong in &moved {
        assert!(open_meta(&r.dek, wrong, &meta).is_err());
        assert!(open_value(&r.dek, wrong, &meta, &value).is_err());
    }
    // And the wrong key.
    assert!(open_meta(&crypto::random_key(), &slot, &meta).is_err());
}

/// Prints every vector with its outputs computed by this build: only for a new format
/// (`cargo test -p kovra-core --lib print_vectors -- --ignored --nocapture`).
#[test]
#[ignore]
fn print_vectors() {
    for (name, text, outputs) in [
        ("keys.json", KEYS, keys_outputs as fn(&Json) -> Json),
        ("root.json", ROOT, root_outputs),
        ("dek.json", DEK, dek_outputs),
        ("record.json", RECORD, record_outputs),
    ] {
        let mut doc = parse(text);
        doc["outputs"] = outputs(&doc["inputs"]);
        println!(
            "=== {name}\n{}",
            serde_json::to_string_pretty(&doc).unwrap()
        );
    }
}
