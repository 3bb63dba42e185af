//! The on-disk format (format 1), in one place: every keyed lookup, every AAD, and the
//! seal and open of the root key, the vault data keys, vault names and record versions.
//! Creation, reading, writing and key rotation all go through here, so the format is
//! spelled once. `docs/design/vault-format.md` explains it; `tests/vectors/` pins it byte
//! for byte (see the README there).
//!
//! Every sealed blob is `nonce (24) ‖ ciphertext ‖ tag (16)`, XChaCha20-Poly1305.
//! Integers are big-endian.

use zeroize::Zeroizing;

use super::Value;
use crate::coord::Coordinate;
use crate::crypto::{self, AuthError, KdfParams, Key, KeyedMac, NONCE_LEN};
use crate::model::{Metadata, VaultName};

/// A keyed lookup: what a row is found by, without naming what it holds.
pub type Lookup = [u8; 32];

type Nonce = [u8; NONCE_LEN];

const ROOT: &[u8] = b"kovra-root-v1";
const HEADER: &[u8] = b"kovra-header-v1";
const DEK: &[u8] = b"kovra-dek-v1";
const VAULT_NAME: &[u8] = b"kovra-vault-name-v1";
const META: &[u8] = b"kovra-meta-v1";
const VALUE: &[u8] = b"kovra-value-v1";

/// The root key's AAD binds the vault and the exact KDF inputs, so a header copied from
/// another vault, or with its cost lowered, does not unwrap.
pub(super) fn root_aad(uuid: &[u8], kdf: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut aad = ROOT.to_vec();
    aad.extend_from_slice(uuid);
    aad.extend_from_slice(&kdf.m_kib.to_be_bytes());
    aad.extend_from_slice(&kdf.t.to_be_bytes());
    aad.extend_from_slice(&kdf.p.to_be_bytes());
    aad.extend_from_slice(salt);
    aad
}

/// `wrapped_root`: the root key sealed under the passphrase's key-encryption key.
pub(super) fn wrap_root(
    kek: &Key,
    uuid: &[u8],
    kdf: &KdfParams,
    salt: &[u8],
    root: &Key,
) -> Vec<u8> {
    wrap_root_with(&crypto::random_array(), kek, uuid, kdf, salt, root)
}

fn wrap_root_with(
    nonce: &Nonce,
    kek: &Key,
    uuid: &[u8],
    kdf: &KdfParams,
    salt: &[u8],
    root: &Key,
) -> Vec<u8> {
    crypto::seal_with_nonce(kek, nonce, &root_aad(uuid, kdf, salt), root.as_ref())
}

/// Open `wrapped_root`. Any failure (wrong passphrase, altered header) is the same error.
pub(super) fn unwrap_root(
    kek: &Key,
    uuid: &[u8],
    kdf: &KdfParams,
    salt: &[u8],
    wrapped: &[u8],
) -> Result<Key, AuthError> {
    let opened = crypto::open(kek, &root_aad(uuid, kdf, salt), wrapped)?;
    crypto::key_from_slice(&opened)
}

const RECOVERY: &[u8] = b"kovra-recovery-root-v1";

/// The recovery wrapping's AAD binds the vault and the salt, so a wrapping copied from
/// another vault does not open.
fn recovery_aad(uuid: &[u8], salt: &[u8]) -> Vec<u8> {
    [RECOVERY, uuid, salt].concat()
}

/// `recovery.wrapped_root`: the root key sealed under the recovery kit's wrapping key.
pub(super) fn wrap_root_recovery(wrapping: &Key, uuid: &[u8], salt: &[u8], root: &Key) -> Vec<u8> {
    crypto::seal(wrapping, &recovery_aad(uuid, salt), root.as_ref())
}

/// Open `recovery.wrapped_root`; a wrong kit and an altered row are the same error.
pub(super) fn unwrap_root_recovery(
    wrapping: &Key,
    uuid: &[u8],
    salt: &[u8],
    wrapped: &[u8],
) -> Result<Key, AuthError> {
    let opened = crypto::open(wrapping, &recovery_aad(uuid, salt), wrapped)?;
    crypto::key_from_slice(&opened)
}

/// Authenticates the header's mutable part: the record-set tag (never stored), the audit
/// chain's length and head. Kept secret from the file, so no delta between two observed
/// headers lets anyone forge a third.
pub(super) fn header_mac(
    key: &Key,
    uuid: &[u8],
    tag: &[u8; 32],
    audit_seq: u64,
    audit_head: &[u8; 32],
) -> [u8; 32] {
    crypto::mac(
        key.as_ref(),
        &[HEADER, uuid, tag, &audit_seq.to_be_bytes(), audit_head],
    )
}

/// A vault's lookup (under the `index` subkey).
pub(super) fn vault_lookup(index: &KeyedMac, vault: &VaultName) -> Lookup {
    index.mac(&[b"vault", vault.label().as_bytes()])
}

/// A record's lookup (under the `index` subkey): a guessed coordinate cannot be checked
/// against the file without the key.
pub(super) fn record_lookup(index: &KeyedMac, vault: &VaultName, coord: &Coordinate) -> Lookup {
    index.mac(&[b"record", vault.label().as_bytes(), coord.path().as_bytes()])
}

/// One record's contribution to the record-set tag (XORed together, under the `state`
/// subkey): a row added, deleted or rolled back changes the tag.
pub(super) fn state_element(
    state: &Key,
    record: &Lookup,
    vault: &Lookup,
    version: u64,
) -> [u8; 32] {
    crypto::mac(state.as_ref(), &[record, vault, &version.to_be_bytes()])
}

pub(super) fn dek_aad(uuid: &[u8], vault: &Lookup) -> Vec<u8> {
    [DEK, uuid, vault].concat()
}

/// `wrapped_dek`: a vault's data key under the `wrap` subkey.
pub(super) fn wrap_dek(wrap: &Key, uuid: &[u8], vault: &Lookup, dek: &Key) -> Vec<u8> {
    wrap_dek_with(&crypto::random_array(), wrap, uuid, vault, dek)
}

fn wrap_dek_with(nonce: &Nonce, wrap: &Key, uuid: &[u8], vault: &Lookup, dek: &Key) -> Vec<u8> {
    crypto::seal_with_nonce(wrap, nonce, &dek_aad(uuid, vault), dek.as_ref())
}

/// Why a wrapped data key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DekProblem {
    /// It does not authenticate (replaced, or moved from another vault).
    Unauthentic,
    /// It authenticates but is not a key.
    Malformed,
}

pub(super) fn unwrap_dek(
    wrap: &Key,
    uuid: &[u8],
    vault: &Lookup,
    wrapped: &[u8],
) -> Result<Key, DekProblem> {
    let opened =
        crypto::open(wrap, &dek_aad(uuid, vault), wrapped).map_err(|_| DekProblem::Unauthentic)?;
    crypto::key_from_slice(&opened).map_err(|_| DekProblem::Malformed)
}

fn vault_name_aad(vault: &[u8]) -> Vec<u8> {
    [VAULT_NAME, vault].concat()
}

/// `sealed_name`: the JSON of a vault's name under the `wrap` subkey.
pub(super) fn seal_vault_name(wrap: &Key, vault: &Lookup, name: &VaultName) -> Vec<u8> {
    seal_vault_name_with(&crypto::random_array(), wrap, vault, name)
}

fn seal_vault_name_with(nonce: &Nonce, wrap: &Key, vault: &Lookup, name: &VaultName) -> Vec<u8> {
    let json = serde_json::to_vec(name).unwrap_or_default();
    crypto::seal_with_nonce(wrap, nonce, &vault_name_aad(vault), &json)
}

/// Open a `sealed_name`. `Ok(None)`: it authenticates but does not parse as a name.
pub(super) fn open_vault_name(
    wrap: &Key,
    vault: &[u8],
    sealed: &[u8],
) -> Result<Option<VaultName>, AuthError> {
    let json = crypto::open(wrap, &vault_name_aad(vault), sealed)?;
    Ok(serde_json::from_slice(&json).ok())
}

/// Where a record version sits: what both of its AADs bind, so a blob moved to another
/// vault home, vault, record or version does not open.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot<'a> {
    pub uuid: &'a [u8],
    pub vault: &'a Lookup,
    pub record: &'a Lookup,
    pub version: u64,
}

impl Slot<'_> {
    fn aad(&self, part: &[u8]) -> Vec<u8> {
        [
            part,
            self.uuid,
            self.vault,
            self.record,
            &self.version.to_be_bytes(),
        ]
        .concat()
    }

    pub(super) fn meta_aad(&self) -> Vec<u8> {
        self.aad(META)
    }

    /// The value's AAD also binds its exact metadata blob: a value paired with another
    /// version's metadata does not open.
    pub(super) fn value_aad(&self, sealed_meta: &[u8]) -> Vec<u8> {
        [self.aad(VALUE), crypto::sha256(&[sealed_meta]).to_vec()].concat()
    }
}

/// One record version as stored: the `versions.meta` and `versions.value` columns.
pub(super) struct SealedVersion {
    pub meta: Vec<u8>,
    pub value: Vec<u8>,
}

/// Seal a version whose metadata is already JSON (key rotation keeps the exact bytes).
pub(super) fn seal_version(
    dek: &Key,
    slot: &Slot<'_>,
    meta_json: &[u8],
    value: &[u8],
) -> SealedVersion {
    seal_version_with(
        [&crypto::random_array(), &crypto::random_array()],
        dek,
        slot,
        meta_json,
        value,
    )
}

fn seal_version_with(
    nonces: [&Nonce; 2],
    dek: &Key,
    slot: &Slot<'_>,
    meta_json: &[u8],
    value: &[u8],
) -> SealedVersion {
    let meta = crypto::seal_with_nonce(dek, nonces[0], &slot.meta_aad(), meta_json);
    let value = crypto::seal_with_nonce(dek, nonces[1], &slot.value_aad(&meta), value);
    SealedVersion { meta, value }
}

/// The plaintext of `versions.meta`.
fn meta_json(meta: &Metadata) -> Vec<u8> {
    serde_json::to_vec(meta).unwrap_or_default()
}

/// Seal a version of `meta` (its JSON) and `value`.
pub(super) fn seal_record(
    dek: &Key,
    slot: &Slot<'_>,
    meta: &Metadata,
    value: &[u8],
) -> SealedVersion {
    seal_version(dek, slot, &meta_json(meta), value)
}

/// Open a version's metadata as JSON bytes.
pub(super) fn open_meta_json(
    dek: &Key,
    slot: &Slot<'_>,
    sealed_meta: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AuthError> {
    crypto::open(dek, &slot.meta_aad(), sealed_meta)
}

/// Open a version's metadata. JSON that does not parse counts as a failed authentication:
/// only kovra writes it.
pub(super) fn open_meta(
    dek: &Key,
    slot: &Slot<'_>,
    sealed_meta: &[u8],
) -> Result<Metadata, AuthError> {
    let json = open_meta_json(dek, slot, sealed_meta)?;
    serde_json::from_slice(&json).map_err(|_| AuthError)
}

/// Open a version's value; `sealed_meta` is the metadata blob stored beside it.
pub(super) fn open_value(
    dek: &Key,
    slot: &Slot<'_>,
    sealed_meta: &[u8],
    sealed_value: &[u8],
) -> Result<Value, AuthError> {
    crypto::open(dek, &slot.value_aad(sealed_meta), sealed_value)
}

#[cfg(test)]
mod vectors;
