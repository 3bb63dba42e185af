//! kovra's own settings (the executable allowlist, the second factor) as JSON records of the
//! system vault: sealed, versioned and tamper-checked like every secret, and addressable by
//! no scope.

use crate::error::GateError;
use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Metadata, Sensitivity, VaultName};
use kovra_core::secret::SecretBytes;
use kovra_core::store::{self, UnlockedStore};
use kovra_core::totp::TotpParams;
use kovra_proto::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// Read a setting; `None` when it was never written.
pub(super) fn load<T: DeserializeOwned>(
    store: &mut UnlockedStore,
    coord: &Coordinate,
    what: &str,
) -> Result<Option<T>, GateError> {
    let Some(value) = load_raw(store, coord)? else {
        return Ok(None);
    };
    serde_json::from_slice(value.expose())
        .map(Some)
        .map_err(|_| {
            GateError::new(
                ErrorCode::VaultTampered,
                format!("the {what} record is unreadable"),
            )
        })
}

/// Read a setting's raw bytes (for settings that are themselves secrets, such as keys).
pub(super) fn load_raw(
    store: &mut UnlockedStore,
    coord: &Coordinate,
) -> Result<Option<SecretBytes>, GateError> {
    Ok(store.read_setting(coord)?.map(|(_, value)| value))
}

/// Create the system vault if it does not exist yet (its own small transaction).
pub(super) fn ensure_vault(store: &mut UnlockedStore, audit: &AuditEntry) -> Result<(), GateError> {
    if store.vault_exists(&VaultName::System)? {
        return Ok(());
    }
    let e = AuditEntry {
        action: "system-vault-create".into(),
        coordinate: None,
        vault: Some(VaultName::System.label()),
        decision: "ok".into(),
        ..audit.clone()
    };
    store
        .create_vault(&VaultName::System, e)
        .map_err(GateError::from)
}

/// The metadata of a setting's next version.
pub(super) fn meta(
    store: &mut UnlockedStore,
    coord: &Coordinate,
    description: &str,
) -> Result<Metadata, GateError> {
    let now = store::now();
    let created = store
        .find(&VaultName::System, coord)?
        .map(|r| r.meta.created);
    Ok(Metadata {
        coordinate: coord.clone(),
        sensitivity: Sensitivity::High,
        revealable: false,
        description: description.into(),
        created: created.unwrap_or(now),
        updated: now,
        version: 0,
        totp: None,
        provider: None,
        provider_host: None,
        ssh_key: None,
        database: None,
    })
}

/// Write a setting as a new version, creating the system vault on first use.
pub(super) fn save<T: Serialize>(
    store: &mut UnlockedStore,
    coord: &Coordinate,
    description: &str,
    totp: Option<TotpParams>,
    value: &T,
    audit: AuditEntry,
) -> Result<(), GateError> {
    if !store.vault_exists(&VaultName::System)? {
        let e = AuditEntry {
            action: "system-vault-create".into(),
            coordinate: None,
            vault: Some(VaultName::System.label()),
            decision: "ok".into(),
            detail: Some(format!("first write of {coord}")),
            ..audit.clone()
        };
        store.create_vault(&VaultName::System, e)?;
    }
    let now = store::now();
    let created = store
        .find(&VaultName::System, coord)?
        .map(|r| r.meta.created);
    let meta = Metadata {
        coordinate: coord.clone(),
        sensitivity: Sensitivity::High,
        revealable: false,
        description: description.into(),
        created: created.unwrap_or(now),
        updated: now,
        version: 0,
        totp,
        provider: None,
        provider_host: None,
        ssh_key: None,
        database: None,
    };
    let json = Zeroizing::new(serde_json::to_vec(value).unwrap_or_default());
    store.put(&VaultName::System, meta, Some(&json), audit)?;
    Ok(())
}
