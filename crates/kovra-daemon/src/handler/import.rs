//! `kovra import`: a dotenv file's entries written as records in one transaction. Each
//! record is decided as `add` decides one (a `create`; an existing record only with
//! `--force`, decided as an overwrite), and one refusal refuses the whole import.

use kovra_core::coord::Coordinate;
use kovra_core::model::{Metadata, Operation, RecordKind, Sensitivity, VaultName};
use kovra_core::policy::{Decision, production_floor};
use kovra_core::store::{self, Record};
use kovra_proto::import::{ImportReply, ImportRequest, ImportRow, PinSource};
use kovra_proto::{ErrorCode, Reply};

use super::{Gate, MAX_VALUE, Op};
use crate::error::{GateError, parse_coord};

/// More entries than any real `.env` holds: a bound on one transaction.
const MAX_IMPORT: usize = 2000;

/// One entry, decided.
struct Planned {
    coord: Coordinate,
    vault: VaultName,
    existing: Option<Record>,
    row: ImportRow,
}

/// Open the values dotenvx sealed (`encrypted:…`) with the request's private key; plain
/// values in the same file stay as they are.
fn open_dotenvx(req: &mut ImportRequest) -> Result<(), GateError> {
    let Some(hex) = req.dotenvx_key.take() else {
        return Ok(());
    };
    let bad = |what: String| GateError::new(ErrorCode::DotenvInvalid, what);
    let text = std::str::from_utf8(hex.expose())
        .map_err(|_| bad("the dotenvx private key is not text".into()))?;
    let key = kovra_core::dotenvx::PrivateKey::from_hex(text).map_err(|e| bad(e.to_string()))?;
    for item in &mut req.records {
        let Some(sealed) = std::str::from_utf8(item.value.expose())
            .ok()
            .filter(|v| v.starts_with(kovra_core::dotenvx::PREFIX))
        else {
            continue;
        };
        let opened = key
            .open(sealed)
            .map_err(|e| bad(format!("{}: {e}; nothing was imported", item.coordinate)))?;
        item.value = kovra_proto::Secret::new(opened.to_vec());
    }
    Ok(())
}

impl Gate<'_> {
    pub(super) fn import_dotenv(&mut self, mut req: ImportRequest) -> Result<Reply, GateError> {
        if req.records.is_empty() {
            return Err(GateError::new(
                ErrorCode::InvalidArgument,
                "the file has no entries to import",
            ));
        }
        if req.records.len() > MAX_IMPORT {
            return Err(GateError::new(
                ErrorCode::InvalidArgument,
                format!("an import holds at most {MAX_IMPORT} entries"),
            ));
        }
        open_dotenvx(&mut req)?;
        let registry = self.registry()?;
        let mut coords: Vec<Coordinate> = Vec::with_capacity(req.records.len());
        for item in &req.records {
            let coord = parse_coord(&item.coordinate)?;
            // An empty value is a value here: the file said `NAME=`.
            if item.value.len() > MAX_VALUE {
                return Err(GateError::new(
                    ErrorCode::ValueTooLarge,
                    format!("the value for {coord} exceeds {MAX_VALUE} bytes"),
                ));
            }
            if coords.iter().any(|c| c.unpinned() == coord.unpinned()) {
                return Err(GateError::new(
                    ErrorCode::InvalidArgument,
                    format!("{coord} appears twice in the import"),
                ));
            }
            coords.push(coord);
        }
        // Decide every record before writing any; refusals first, so no passphrase is asked
        // for an import that would then be refused anyway.
        let mut planned = Vec::with_capacity(coords.len());
        let mut located_all = Vec::with_capacity(coords.len());
        let mut conflicts = Vec::new();
        for (coord, item) in coords.into_iter().zip(&req.records) {
            let mut located = self.locate(&coord, &[Op::plain(Operation::Create)], true)?;
            let exists = located.record.is_some() && located.decision != Decision::Unaddressable;
            if exists {
                if !req.force {
                    conflicts.push(coord.to_string());
                }
                if let (Some(vault), Some(record)) = (located.vault.clone(), located.record.take())
                {
                    located = self.decide_all(
                        &vault,
                        &coord,
                        Some(record),
                        &[Op::plain(Operation::Update)],
                    );
                }
            }
            let production = self.production(coord.env());
            let claimed = registry.claimant(coord.key()).map(|p| p.name.clone());
            let (provider, pin) = match (&located.record, claimed) {
                // A replaced record keeps its pin (the store carries it forward).
                (Some(r), claimed) => match &r.meta.provider {
                    Some(p) => (Some(p.clone()), None),
                    None => {
                        let pin = claimed.as_ref().map(|_| PinSource::Name);
                        (claimed, pin)
                    }
                },
                (None, Some(name)) => (Some(name), Some(PinSource::Name)),
                (None, None) => match registry.recognize(item.value.expose()) {
                    Some(p) => (Some(p.name.clone()), Some(PinSource::Format)),
                    None => (None, None),
                },
            };
            let sensitivity = match &located.record {
                Some(r) => r.meta.sensitivity,
                None => {
                    // A key in a known format is a credential for a paid API: suggested high.
                    let suggested = if pin.is_some() {
                        Sensitivity::High
                    } else {
                        Sensitivity::Medium
                    };
                    production_floor(req.sensitivity.unwrap_or(suggested), production)
                }
            };
            planned.push(Planned {
                vault: located.vault.clone().unwrap_or(VaultName::Global),
                existing: located.record.clone(),
                row: ImportRow {
                    coordinate: coord.unpinned().to_string(),
                    sensitivity,
                    provider,
                    pin,
                    replaces: exists,
                },
                coord,
            });
            located_all.push(located);
        }
        if !conflicts.is_empty() {
            return Err(GateError::new(
                ErrorCode::RecordExists,
                format!(
                    "{} already exist: {}; nothing was imported",
                    conflicts.len(),
                    conflicts.join(", ")
                ),
            )
            .hint("import into another environment or group, or replace them with --force"));
        }
        for p in &planned {
            if let Some(kind) = p.existing.as_ref().map(|r| r.meta.kind())
                && kind != RecordKind::Secret
            {
                return Err(GateError::new(
                    ErrorCode::InvalidArgument,
                    format!("{} is a {kind} record: an import replaces only plain secrets; nothing was imported", p.coord),
                )
                .hint("replace it with `kovra set`, or import the entry under another name"));
            }
        }
        let refusals_first = located_all
            .iter()
            .zip(&planned)
            .filter(|(l, _)| matches!(l.decision, Decision::Deny(_) | Decision::Unaddressable))
            .chain(
                located_all
                    .iter()
                    .zip(&planned)
                    .filter(|(l, _)| matches!(l.decision, Decision::NeedsProof(_)))
                    .filter(|_| !req.dry_run),
            );
        for (located, p) in refusals_first {
            self.enforce("import", &p.coord, located)?;
        }
        let vault_label = planned.first().map(|p| p.vault.label()).unwrap_or_default();
        let rows: Vec<ImportRow> = planned.iter().map(|p| p.row.clone()).collect();
        if req.dry_run {
            return Ok(Reply::Imported(Box::new(ImportReply {
                vault: vault_label,
                rows,
                written: false,
            })));
        }
        self.write_import(&req, planned)?;
        Ok(Reply::Imported(Box::new(ImportReply {
            vault: vault_label,
            rows,
            written: true,
        })))
    }

    /// Every record and its audit entry in one transaction: all are written, or none.
    fn write_import(
        &mut self,
        req: &ImportRequest,
        planned: Vec<Planned>,
    ) -> Result<(), GateError> {
        let now = store::now();
        let mut items = Vec::with_capacity(planned.len());
        let mut audit = Vec::with_capacity(planned.len());
        let mut written = Vec::with_capacity(planned.len());
        for (p, item) in planned.into_iter().zip(&req.records) {
            let meta = match p.existing {
                Some(r) => Metadata {
                    updated: now,
                    ..r.meta
                },
                None => Metadata {
                    coordinate: p.coord.unpinned(),
                    sensitivity: p.row.sensitivity,
                    revealable: false,
                    description: String::new(),
                    created: now,
                    updated: now,
                    version: 0,
                    totp: None,
                    // A name's claim pins by the key itself; only a format pin is stored.
                    provider: p
                        .row
                        .provider
                        .clone()
                        .filter(|_| p.row.pin == Some(PinSource::Format)),
                    provider_host: None,
                    ssh_key: None,
                    database: None,
                },
            };
            let mut entry = self.allowed("import", &p.coord, &p.vault);
            let source = req.source.chars().take(200).collect::<String>();
            entry.detail = Some(if p.row.replaces {
                format!("from {source}, replacing")
            } else {
                format!("from {source}")
            });
            audit.push(entry);
            items.push((p.vault.clone(), meta, Some(item.value.expose())));
            written.push((p.coord, p.vault));
        }
        self.store.put_many(items, audit)?;
        for (coord, vault) in &written {
            self.close_request(coord, vault);
        }
        Ok(())
    }
}
