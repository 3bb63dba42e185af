//! Operations on one record: creating, writing, reading metadata, editing, removing,
//! restoring an old version, revealing and TOTP codes.

use kovra_core::coord::Coordinate;
use kovra_core::crypto;
use kovra_core::model::{Metadata, Operation, Sensitivity, VaultName};
use kovra_core::policy::{Decision, birth_sensitivity, production_floor};
use kovra_core::store::{self, Record, StoreError};
use kovra_core::totp;
use kovra_proto::ErrorCode;
use kovra_proto::{Charset, Reply, Secret};

use crate::stream::{Picked, RecordsPlan, VaultPart};

use super::{Gate, MAX_DESCRIPTION, MAX_VALUE, Op};
use crate::error::{GateError, parse_coord, parse_totp};

impl Gate<'_> {
    pub(super) fn check_value(coord: &Coordinate, value: &Secret) -> Result<(), GateError> {
        if value.is_empty() {
            return Err(GateError::new(
                ErrorCode::EmptyValue,
                format!("no value was given for {coord}"),
            )
            .hint("type the value at the prompt, or pipe it to --stdin"));
        }
        if value.len() > MAX_VALUE {
            return Err(GateError::new(
                ErrorCode::ValueTooLarge,
                format!("the value for {coord} exceeds {MAX_VALUE} bytes"),
            ));
        }
        Ok(())
    }

    /// Parse the coordinate only to check a requested pin; `create` parses it again.
    pub(super) fn pin_new(
        &mut self,
        coordinate: &str,
        provider: Option<&str>,
    ) -> Result<(), GateError> {
        if provider.is_none() {
            return Ok(());
        }
        let coord = parse_coord(coordinate)?;
        self.creation_pin(&coord, provider)
    }

    pub(super) fn check_description(d: &Option<String>) -> Result<(), GateError> {
        match d {
            Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(GateError::new(
                ErrorCode::DescriptionTooLong,
                format!("descriptions are limited to {MAX_DESCRIPTION} characters"),
            )),
            Some(d) if d.chars().any(|c| c.is_control() && c != '\t') => Err(GateError::new(
                ErrorCode::DescriptionInvalid,
                "descriptions may not contain control characters",
            )
            .hint("use plain text on one line")),
            _ => Ok(()),
        }
    }

    pub(super) fn add(
        &mut self,
        coordinate: &str,
        value: Secret,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        totp: bool,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        Self::check_description(&description)?;
        if totp {
            let (seed, params) = parse_totp(&value)?;
            self.totp_params = Some(params);
            return self.create(&coord, &seed, sensitivity, description, revealable, "add");
        }
        self.create(
            &coord,
            value.expose(),
            sensitivity,
            description,
            revealable,
            "add",
        )
    }

    /// The current code of a TOTP record, audited like a reveal; the seed never leaves.
    pub(super) fn code(&mut self, coordinate: &str, min_validity: u64) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let mut located = self.locate(&coord, &[Op::plain(Operation::Code)], false)?;
        // Whether a record is TOTP is metadata: checked only once policy let us address it.
        if located.decision == Decision::Allow
            && let Some(record) = &located.record
            && record.meta.totp.is_none()
        {
            return Err(GateError::new(
                ErrorCode::NotTotp,
                format!("{coord} is not a TOTP record"),
            )
            .hint("add TOTP seeds with `kovra add COORD --totp`"));
        }
        let allowed = self.admit("code", &coord, &mut located, Operation::Code)?;
        let vault = allowed.vault().clone();
        let (meta, seed) = self.open(&allowed, None)?;
        let Some(params) = meta.totp else {
            return Err(GateError::new(
                ErrorCode::NotTotp,
                format!("{coord} is not a TOTP record"),
            ));
        };
        if min_validity > params.period {
            return Err(GateError::new(
                ErrorCode::MinValidityInvalid,
                format!(
                    "--min-validity {min_validity} is longer than the record's period of {}s",
                    params.period
                ),
            )
            .hint("give at most the period"));
        }
        let now = store::now();
        let left = totp::remaining(params, now);
        let (at, starts_in, valid_for) = if left < min_validity {
            (now + left, left, params.period)
        } else {
            (now, 0, left)
        };
        let code = totp::code_at(seed.expose(), params, at);
        self.store.audit(self.allowed("code", &coord, &vault))?;
        Ok(Reply::Code {
            coordinate: coord.to_string(),
            code: Secret::new(code.as_bytes().to_vec()),
            starts_in,
            valid_for,
        })
    }

    pub(super) fn create(
        &mut self,
        coord: &Coordinate,
        value: &[u8],
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        action: &str,
    ) -> Result<Reply, GateError> {
        let production = self.production(coord.env());
        let born = birth_sensitivity(sensitivity, production);
        // A new record's flags loosen nothing that existed: creation is one operation.
        let located = self.locate(coord, &[Op::plain(Operation::Create)], true)?;
        // An addressable existing record is a plain conflict, not a request to overwrite.
        if located.record.is_some() && located.decision != Decision::Unaddressable {
            return Err(GateError::from(StoreError::AlreadyExists(
                coord.to_string(),
            )));
        }
        self.enforce(action, coord, &located)?;
        let vault = located
            .vault
            .clone()
            .ok_or_else(|| GateError::not_found(coord))?;
        let now = store::now();
        let meta = Metadata {
            coordinate: coord.unpinned(),
            sensitivity: born,
            revealable,
            description: description.unwrap_or_default(),
            created: now,
            updated: now,
            version: 0,
            totp: self.totp_params.take(),
            provider: self.new_pin.take(),
            provider_host: None,
            ssh_key: self.ssh_key_info.take(),
            database: self.db_conn_info.take(),
        };
        self.write_value(coord, &vault, meta, value, action)
    }

    /// Write a version that carries a value, close any open request for the record, and
    /// answer with where it went.
    fn write_value(
        &mut self,
        coord: &Coordinate,
        vault: &VaultName,
        meta: Metadata,
        value: &[u8],
        action: &str,
    ) -> Result<Reply, GateError> {
        let version =
            self.store
                .put(vault, meta, Some(value), self.allowed(action, coord, vault))?;
        self.close_request(coord, vault);
        Ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        })
    }

    pub(super) fn update_value(
        &mut self,
        coord: &Coordinate,
        value: &[u8],
        action: &str,
    ) -> Result<Reply, GateError> {
        let located = self.locate(coord, &[Op::plain(Operation::Update)], false)?;
        self.enforce(action, coord, &located)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(GateError::not_found(coord));
        };
        // A TOTP record's new value is a new seed, parsed like the first one.
        let mut seed = None;
        let mut meta = Metadata {
            updated: store::now(),
            ..record.meta
        };
        if meta.totp.is_some() {
            let (s, params) = parse_totp(&Secret::new(value.to_vec()))?;
            meta.totp = Some(params);
            seed = Some(s);
        }
        // An SSH key record's new value is a new private key (unprotected: `set` has no
        // passphrase), read like the first one.
        if meta.ssh_key.is_some() {
            let key = kovra_core::sshkey::import(value, None).map_err(super::sshkey::key_error)?;
            meta.ssh_key = Some(key.info);
            seed = Some(key.private.into_zeroizing());
        }
        // A connection record's new value is a new connection string, read like the first
        // one: its metadata follows the value.
        if let Some(db) = &meta.database {
            let conn = kovra_core::dbconn::parse(db.engine, value)
                .map_err(super::dbconn::connection_error)?;
            meta.database = Some(conn.info);
            seed = Some(conn.value.into_zeroizing());
        }
        let value = seed.as_deref().map_or(value, |s| s.as_slice());
        self.write_value(coord, &vault, meta, value, action)
    }

    pub(super) fn set(&mut self, coordinate: &str, value: Secret) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        self.update_value(&coord, value.expose(), "set")
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn generate(
        &mut self,
        coordinate: &str,
        length: u32,
        charset: Charset,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
        overwrite: bool,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        if !(8..=4096).contains(&length) {
            return Err(GateError::new(
                ErrorCode::LengthInvalid,
                format!("--length must be between 8 and 4096, not {length}"),
            ));
        }
        Self::check_description(&description)?;
        let value = generate_value(length as usize, charset);
        if overwrite {
            self.update_value(&coord, &value, "generate")
        } else {
            self.create(
                &coord,
                &value,
                sensitivity,
                description,
                revealable,
                "generate",
            )
        }
    }

    /// The records the caller may see (metadata only), sorted by vault then path, in one
    /// frame (`List`: the protocol keeps it for clients that read one reply per request).
    pub(super) fn list(&mut self, env: Option<&str>) -> Result<Reply, GateError> {
        let plan = self.select(env, 0, None)?;
        Ok(Reply::Records(plan.into_listing()))
    }

    /// The same records as a stream (`ListStream`, `docs/protocol.md` §3.1): the head now,
    /// the pages from the plan once the state lock is released.
    pub(super) fn list_stream(
        &mut self,
        env: Option<&str>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<(Reply, RecordsPlan), GateError> {
        let plan = self.select(env, offset, limit)?;
        let head = Reply::RecordsStream {
            total: plan.total(),
            tampered: plan.tampered,
            missing: plan.missing,
        };
        Ok((head, plan))
    }

    /// Decide each record of the vaults the caller may read; `offset` and `limit` cut a
    /// window out of the allowed ones for a client that pages. The listings are the store's
    /// kept ones (`kovra_core::store::listed`): no row is opened again here, and each record
    /// costs one decision. Audited once, with how many records are shown.
    fn select(
        &mut self,
        env: Option<&str>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<RecordsPlan, GateError> {
        let mut vaults = self.store.vaults()?;
        if let Some(p) = &self.info.project {
            let pv = VaultName::Project(p.clone());
            if !vaults.contains(&pv) && self.info.scope.addresses_vault(&pv) {
                return Err(GateError::from(StoreError::UnknownProject(p.clone())));
            }
            vaults.retain(|v| *v == pv || *v == VaultName::Global);
        }
        // Vaults outside the scope are not read at all, so their counts cannot leak either.
        vaults.retain(|v| self.info.scope.addresses_vault(v));
        vaults.sort_by_key(|v| v.label());
        self.registry()?;
        let mut plan = RecordsPlan::default();
        let end = limit.map_or(usize::MAX, |l| offset.saturating_add(l));
        let mut seen = 0usize;
        for vault in vaults {
            let listing = self.store.list_shared(&vault)?;
            plan.tampered += listing.tampered;
            plan.missing += listing.missing;
            let mut picked = Vec::new();
            for (index, record) in listing.records.iter().enumerate() {
                if seen >= end {
                    break;
                }
                let c = &record.meta.coordinate;
                if env.is_some_and(|e| e != c.env()) {
                    continue;
                }
                if self.decide_one(&vault, c, Some(record), Op::plain(Operation::Metadata))
                    == Decision::Allow
                {
                    if seen >= offset {
                        picked.push(Picked {
                            index,
                            production: self.production(c.env()),
                            provider: self.pinned_provider(&record.meta),
                        });
                    }
                    seen += 1;
                }
            }
            plan.parts.push(VaultPart {
                listing,
                label: vault.label(),
                picked,
            });
        }
        let mut entry = self.info.entry("list", None, None, "allow");
        entry.detail = Some(format!("{} records shown", plan.total()));
        self.store.audit(entry)?;
        Ok(plan)
    }

    /// A record's metadata, once a metadata look at it is allowed (opens no value).
    pub(super) fn metadata_of(
        &mut self,
        coordinate: &str,
        action: &str,
    ) -> Result<(Coordinate, VaultName, Record), GateError> {
        let coord = parse_coord(coordinate)?;
        let located = self.locate(&coord, &[Op::plain(Operation::Metadata)], false)?;
        self.enforce(action, &coord, &located)?;
        let (Some(vault), Some(record)) = (located.vault, located.record) else {
            return Err(GateError::not_found(&coord));
        };
        Ok((coord, vault, record))
    }

    pub(super) fn show(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let (coord, vault, record) = self.metadata_of(coordinate, "show")?;
        // The pin shown includes a claim by name, which the registry knows.
        self.registry()?;
        self.store.audit(self.allowed("show", &coord, &vault))?;
        Ok(Reply::Record(self.view(&record)))
    }

    pub(super) fn fingerprint(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let mut located = self.locate(&coord, &[Op::plain(Operation::Fingerprint)], false)?;
        let allowed = self.admit("fingerprint", &coord, &mut located, Operation::Fingerprint)?;
        let vault = allowed.vault().clone();
        let fp = self.open_fingerprint(&allowed)?;
        self.store
            .audit(self.allowed("fingerprint", &coord, &vault))?;
        Ok(Reply::Fingerprint {
            coordinate: coord.to_string(),
            fingerprint: fp,
        })
    }

    pub(super) fn history(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let (coord, vault, _) = self.metadata_of(coordinate, "history")?;
        let versions = self.store.history(&vault, &coord.unpinned())?;
        self.store.audit(self.allowed("history", &coord, &vault))?;
        let versions = versions
            .into_iter()
            .map(|meta| {
                self.view(&Record {
                    vault: vault.clone(),
                    meta,
                })
            })
            .collect();
        Ok(Reply::History {
            coordinate: coord.to_string(),
            versions,
        })
    }

    /// Where a record was used (`Request::Usage`): decided as a metadata read, like
    /// `history`; the answer holds paths and variable names, never a value.
    pub(super) fn usage(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let (coord, vault, _) = self.metadata_of(coordinate, "usage")?;
        let unpinned = coord.unpinned();
        let (refs, last_used, last_by) =
            self.daemon.usage.of(&vault.label(), &unpinned.to_string());
        self.store.audit(self.allowed("usage", &coord, &vault))?;
        Ok(Reply::Usage {
            coordinate: unpinned.to_string(),
            refs,
            last_used,
            last_by,
        })
    }

    /// The operations that turn `from` into `to`, for policy.
    pub(super) fn change_ops(
        from: &Metadata,
        to_sensitivity: Sensitivity,
        to_revealable: bool,
        to_description: &str,
    ) -> Vec<Op> {
        let mut ops = vec![Op::plain(Operation::Metadata)];
        if to_sensitivity != from.sensitivity {
            ops.push(Op {
                new_sensitivity: Some(to_sensitivity),
                ..Op::plain(Operation::ChangeSensitivity)
            });
        }
        if to_revealable != from.revealable {
            ops.push(Op {
                new_revealable: Some(to_revealable),
                ..Op::plain(Operation::ChangeRevealable)
            });
        }
        if to_description != from.description {
            ops.push(Op::plain(Operation::EditDescription));
        }
        ops
    }

    pub(super) fn edit(
        &mut self,
        coordinate: &str,
        description: Option<String>,
        sensitivity: Option<Sensitivity>,
        revealable: Option<bool>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_description(&description)?;
        if description.is_none() && sensitivity.is_none() && revealable.is_none() {
            return Err(GateError::new(
                ErrorCode::NothingToChange,
                "edit needs at least one of --description, --sensitivity, --revealable/--no-revealable",
            ));
        }
        // Locate with metadata first, then decide on the concrete change.
        let located = self.locate(&coord, &[Op::plain(Operation::Metadata)], false)?;
        let Some(record) = located.record.clone() else {
            self.enforce("edit", &coord, &located)?;
            return Err(GateError::not_found(&coord));
        };
        let m = &record.meta;
        let new_s = sensitivity.unwrap_or(m.sensitivity);
        let new_r = revealable.unwrap_or(m.revealable);
        let new_d = description.clone().unwrap_or_else(|| m.description.clone());
        let ops = Self::change_ops(m, new_s, new_r, &new_d);
        let vault = located
            .vault
            .clone()
            .ok_or_else(|| GateError::not_found(&coord))?;
        let decided = self.decide_all(&vault, &coord, Some(record.clone()), &ops);
        self.enforce("edit", &coord, &decided)?;
        let meta = Metadata {
            sensitivity: new_s,
            revealable: new_r,
            description: new_d,
            updated: store::now(),
            ..record.meta
        };
        let version = self
            .store
            .put(&vault, meta, None, self.allowed("edit", &coord, &vault))?;
        Ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version,
        })
    }

    pub(super) fn remove(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let located = self.locate(&coord, &[Op::plain(Operation::Delete)], false)?;
        self.enforce("rm", &coord, &located)?;
        let vault = located.vault.ok_or_else(|| GateError::not_found(&coord))?;
        self.store.delete(
            &vault,
            &coord.unpinned(),
            self.allowed("rm", &coord, &vault),
        )?;
        if let Some(record) = &located.record {
            self.forget_canary(record)?;
        }
        Ok(Reply::Done {
            message: format!("{} removed from the {vault} vault", coord.unpinned()),
        })
    }

    pub(super) fn rollback(&mut self, coordinate: &str, version: u64) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let located = self.locate(&coord, &[Op::plain(Operation::Metadata)], false)?;
        let Some(record) = located.record.clone() else {
            self.enforce("rollback", &coord, &located)?;
            return Err(GateError::not_found(&coord));
        };
        let vault = located
            .vault
            .clone()
            .ok_or_else(|| GateError::not_found(&coord))?;
        if version == 0 || version >= record.meta.version {
            return Err(GateError::from(StoreError::NoSuchVersion(
                coord.to_string(),
                version,
            )));
        }
        // Decided on the old version's metadata: its value is opened only once allowed.
        let old = self
            .store
            .version_metadata(&vault, &coord.unpinned(), version)?;
        // Restoring an old version replaces the value and may restore weaker metadata:
        // policy sees every part of that change.
        let target_s = production_floor(old.sensitivity, self.production(coord.env()));
        let mut ops = Self::change_ops(&record.meta, target_s, old.revealable, &old.description);
        ops.push(Op::plain(Operation::Update));
        let mut decided = self.decide_all(&vault, &coord, Some(record.clone()), &ops);
        let allowed = self.admit("rollback", &coord, &mut decided, Operation::Update)?;
        let (old, value) = self.open(&allowed, Some(version))?;
        let meta = Metadata {
            sensitivity: target_s,
            revealable: old.revealable,
            description: old.description,
            updated: store::now(),
            totp: old.totp,
            ssh_key: old.ssh_key,
            database: old.database,
            ..record.meta
        };
        let mut entry = self.allowed("rollback", &coord, &vault);
        entry.detail = Some(format!("restored version {version}"));
        let new_version = self.store.put(&vault, meta, Some(value.expose()), entry)?;
        Ok(Reply::Written {
            coordinate: coord.unpinned().to_string(),
            vault: vault.label(),
            version: new_version,
        })
    }

    pub(super) fn reveal(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let mut located = self.locate(&coord, &[Op::plain(Operation::Reveal)], false)?;
        let allowed = self.admit("reveal", &coord, &mut located, Operation::Reveal)?;
        if allowed.obligations().notify_medium_use {
            crate::approvals::notify_medium_use("reveal", &coord.to_string());
        }
        let vault = allowed.vault().clone();
        let (_, value) = self.open(&allowed, None)?;
        // The reveal is on the trail before the value leaves the daemon.
        self.store.audit(self.allowed("reveal", &coord, &vault))?;
        Ok(Reply::Revealed {
            coordinate: coord.to_string(),
            value: Secret::from(value.into_zeroizing()),
        })
    }
}

/// Draw `length` characters uniformly from the charset (rejection sampling, no modulo bias).
pub(super) fn generate_value(length: usize, charset: Charset) -> zeroize::Zeroizing<Vec<u8>> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const SYMBOLS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";
    let alphabet: &[u8] = match charset {
        Charset::Alnum => ALNUM,
        Charset::Alpha => &ALNUM[..52],
        Charset::Digits => b"0123456789",
        Charset::Hex => b"0123456789abcdef",
        Charset::Base64url => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        Charset::Symbols => SYMBOLS,
    };
    let limit = 256 - (256 % alphabet.len());
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(length));
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < length {
        crypto::fill_random(buf.as_mut());
        for &b in buf.iter() {
            if (b as usize) < limit && out.len() < length {
                out.push(alphabet[b as usize % alphabet.len()]);
            }
        }
    }
    out
}
