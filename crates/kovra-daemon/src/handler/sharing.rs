//! Sharing through the policy gate (`docs/sharing.md`): the vault's identity, sealing an
//! environment for a recipient, and receiving a package. Keys, accepted senders and the
//! ledger of received packages live in the system vault.

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Metadata, Operation, Sensitivity, VaultName};
use kovra_core::policy::{
    Decision, Offered, Reason, RecordFacts, VaultOperation, imported_metadata,
};
use kovra_core::store::{self, StoreError};
use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Secret};
use kovra_share::package::{self, Manifest, PackageRecord, Sender};
use kovra_share::{Identity, Recipient, ShareError, Token};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Gate, Op};
use crate::error::GateError;

const IDENTITY: &str = "secret:kovra/sharing/identity";
const SENDERS: &str = "secret:kovra/sharing/senders";
const LEDGER: &str = "secret:kovra/sharing/received";
/// Received package ids kept (the newest); far more than anyone receives.
const LEDGER_MAX: usize = 100_000;
pub const MAX_TTL_SECS: u64 = 30 * 24 * 3600;
/// A package dated this far in the future is refused (clocks differ a little, not more).
const CLOCK_SKEW_SECS: u64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AcceptedSender {
    fingerprint: String,
    recipient: String,
    signing_key: String,
    accepted: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReceivedPackage {
    package_id: String,
    sender: String,
    received: u64,
}

fn coord(text: &str) -> Result<Coordinate, GateError> {
    Coordinate::parse(text).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

impl Gate<'_> {
    fn load_identity(&mut self) -> Result<Option<Identity>, GateError> {
        match super::system::load_raw(self.store, &coord(IDENTITY)?)? {
            None => Ok(None),
            Some(bytes) => Identity::from_stored(bytes.expose())
                .map(Some)
                .map_err(GateError::from),
        }
    }

    /// The identity, created on first use when `create` (a write, audited).
    fn ensure_identity(&mut self, create: bool) -> Result<(Identity, bool), GateError> {
        if let Some(id) = self.load_identity()? {
            return Ok((id, false));
        }
        if !create {
            return Err(GateError::new(
                ErrorCode::NoIdentity,
                "this vault has no sharing identity yet",
            )
            .hint("run `kovra identity` to create it"));
        }
        self.vault_gate(VaultOperation::CreateIdentity, "identity-create")?;
        let id = Identity::generate()?;
        let mut entry = self.info.entry("identity-create", None, None, "allow");
        entry.detail = Some(format!("fingerprint {}", id.public().fingerprint));
        let c = coord(IDENTITY)?;
        super::system::ensure_vault(self.store, &entry)?;
        let meta = super::system::meta(
            self.store,
            &c,
            "this vault's sharing identity (age X25519 and Ed25519)",
        )?;
        let stored = id.to_stored();
        self.store
            .put(&VaultName::System, meta, Some(&stored), entry)?;
        Ok((id, true))
    }

    pub(super) fn identity(&mut self, create: bool) -> Result<Reply, GateError> {
        self.vault_gate(VaultOperation::ReadIdentity, "identity")?;
        let (id, created) = self.ensure_identity(create)?;
        let p = id.public();
        Ok(Reply::Identity {
            recipient: p.recipient,
            signing_key: p.signing_key,
            fingerprint: p.fingerprint,
            created,
        })
    }

    /// The vault an environment is shared from or received into.
    fn sharing_vault(&mut self) -> Result<VaultName, GateError> {
        let vault = match &self.project {
            Some(p) => VaultName::Project(p.clone()),
            None => VaultName::Global,
        };
        let exists = self.store.vault_exists(&vault)?;
        if !self.info.scope.addresses_vault(&vault) || !exists {
            return Err(match &vault {
                VaultName::Project(p) => GateError::from(StoreError::UnknownProject(p.clone())),
                _ => GateError::new(
                    ErrorCode::NotFound,
                    "the global vault is not addressable in this scope",
                ),
            });
        }
        Ok(vault)
    }

    /// Refuse, audited, with the policy reason.
    fn sharing_denied(&mut self, action: &str, reason: Reason, what: String) -> GateError {
        let mut e = self.info.entry(action, None, None, "deny");
        e.reason = Some(reason.code().to_string());
        e.detail = Some(what.clone());
        if let Err(err) = self.store.audit(e) {
            return GateError::from(err);
        }
        GateError::new(
            ErrorCode::PolicyDenied,
            format!("{action} refused: {} ({what})", reason.message()),
        )
        .hint(reason.hint())
    }

    pub(super) fn share(
        &mut self,
        env: &str,
        groups: &[String],
        to: &str,
        ttl_secs: u64,
    ) -> Result<Reply, GateError> {
        let recipient = Recipient::parse(to)?;
        if !(1..=MAX_TTL_SECS).contains(&ttl_secs) {
            return Err(GateError::new(
                ErrorCode::TtlInvalid,
                format!("--ttl must be between 1 second and 30 days, not {ttl_secs} s"),
            ));
        }
        kovra_core::coord::validate_name(env).map_err(|e| {
            GateError::new(
                ErrorCode::Usage,
                format!("invalid environment `{env}`: {e}"),
            )
        })?;
        let vault = self.sharing_vault()?;
        // The environment itself first: production is refused even when it is empty.
        let env_coord = coord(&format!("secret:{env}/kovra/share"))?;
        let env_facts = Some(RecordFacts {
            sensitivity: Sensitivity::Low,
            revealable: false,
            kind: kovra_core::model::RecordKind::Secret,
        });
        let env_decision =
            self.decide_facts(&vault, &env_coord, env_facts, Op::plain(Operation::Export));
        if env_decision == Decision::Deny(Reason::ProductionNeverShared) {
            return Err(self.sharing_denied(
                "share",
                Reason::ProductionNeverShared,
                format!("environment {env}"),
            ));
        }
        let listing = self.store.list_shared(&vault)?;
        if listing.tampered > 0 || listing.missing > 0 {
            return Err(GateError::from(StoreError::RecordTampered(format!(
                "{} record(s) of the {vault} vault",
                listing.tampered + listing.missing
            ))));
        }
        let mut selected: Vec<_> = listing
            .records
            .iter()
            .filter(|r| {
                let c = &r.meta.coordinate;
                c.env() == env && (groups.is_empty() || groups.iter().any(|g| g == c.group()))
            })
            .cloned()
            .collect();
        let mut inject_only = Vec::new();
        let mut keys = Vec::new();
        let mut connections = Vec::new();
        let mut decisions = vec![env_decision];
        let mut tokens = Vec::with_capacity(selected.len());
        let mut canaries = Vec::new();
        for r in &selected {
            let d = match self.authorize_one(
                &vault,
                &r.meta.coordinate,
                Some(r),
                Op::plain(Operation::Export),
            ) {
                Ok(allowed) => {
                    tokens.push(allowed);
                    Decision::Allow
                }
                Err(d) => d,
            };
            // A tripped canary is left out, as a record that is not there.
            if d == Decision::Unaddressable && self.tripped(&vault, &r.meta.coordinate) {
                canaries.push(r.meta.coordinate.clone());
                continue;
            }
            if d == Decision::Deny(Reason::InjectOnlyNeverShared) {
                inject_only.push(r.meta.coordinate.to_string());
            }
            if d == Decision::Deny(Reason::SshKeyNeverShared) {
                keys.push(r.meta.coordinate.to_string());
            }
            if d == Decision::Deny(Reason::ConnectionNeverShared) {
                connections.push(r.meta.coordinate.to_string());
            }
            decisions.push(d);
        }
        selected.retain(|r| !canaries.contains(&r.meta.coordinate));
        let decision = Decision::all(decisions);
        if !inject_only.is_empty() {
            return Err(self.sharing_denied(
                "share",
                Reason::InjectOnlyNeverShared,
                inject_only.join(", "),
            ));
        }
        if !keys.is_empty() {
            return Err(self.sharing_denied("share", Reason::SshKeyNeverShared, keys.join(", ")));
        }
        if !connections.is_empty() {
            return Err(self.sharing_denied(
                "share",
                Reason::ConnectionNeverShared,
                connections.join(", "),
            ));
        }
        if selected.is_empty() {
            return Err(GateError::new(
                ErrorCode::NothingToShare,
                format!(
                    "no records in environment {env}{} of the {vault} vault",
                    if groups.is_empty() {
                        String::new()
                    } else {
                        format!(" (groups {})", groups.join(", "))
                    }
                ),
            )
            .hint("`kovra list --env ENV` shows what there is"));
        }
        let coordinates: Vec<String> = selected
            .iter()
            .map(|r| r.meta.coordinate.to_string())
            .collect();
        match decision {
            Decision::Allow => {}
            Decision::NeedsProof(r) => {
                self.facts.push(kovra_proto::Fact {
                    name: "records".into(),
                    value: coordinates.join(", "),
                    untrusted: false,
                });
                self.facts.push(kovra_proto::Fact {
                    name: "recipient".into(),
                    value: recipient.to_text(),
                    untrusted: true,
                });
                let message = format!("share {env} ({} records): {}", selected.len(), r.message());
                return Err(self.needs_proof("share", None, Some(&vault), r, message));
            }
            Decision::Deny(r) => {
                return Err(self.sharing_denied("share", r, format!("environment {env}")));
            }
            Decision::Unaddressable => {
                return Err(GateError::new(
                    ErrorCode::NotFound,
                    format!("nothing to share in {env}"),
                ));
            }
        }
        let (identity, _) = self.ensure_identity(true)?;
        let mut records = Vec::with_capacity(selected.len());
        // Every record was allowed (the decision is `Allow`): one token each.
        for allowed in &tokens {
            let (meta, value) = self.open(allowed, None)?;
            records.push(PackageRecord::with_value(
                meta.coordinate.to_string(),
                meta.sensitivity,
                meta.revealable,
                meta.description.clone(),
                meta.totp,
                value.expose(),
            ));
        }
        let now = store::now();
        let manifest = Manifest {
            version: 1,
            package_id: package::new_package_id()?,
            sender: Sender::of(&identity.public()),
            recipient: recipient.to_text(),
            environment: env.to_string(),
            project: match &vault {
                VaultName::Project(p) => Some(p.clone()),
                _ => None,
            },
            created: now,
            expires: now + ttl_secs,
            records,
        };
        let (armored, token) = package::seal(&manifest, &identity, &recipient)?;
        let mut entry = self.info.entry("share", None, Some(&vault), "allow");
        entry.reason = Some("proof-of-presence".into());
        entry.detail = Some(format!(
            "package {} from {} to {} env {env} records {}",
            manifest.package_id,
            manifest.sender.fingerprint,
            manifest.recipient,
            coordinates.join(",")
        ));
        self.store.audit(entry)?;
        Ok(Reply::Shared {
            package: armored,
            token: Secret::new(token.expose().as_bytes().to_vec()),
            package_id: manifest.package_id.clone(),
            environment: env.to_string(),
            coordinates,
            expires: manifest.expires,
            recipient: manifest.recipient.clone(),
        })
    }

    /// Audit a refused receive and answer with its code.
    fn receive_refused(
        &mut self,
        code: ErrorCode,
        refused: GateError,
        package_id: Option<&str>,
    ) -> GateError {
        let mut e = self.info.entry("receive", None, None, "deny");
        e.reason = Some(code.to_string());
        e.detail = package_id.map(|id| format!("package {id}"));
        if let Err(err) = self.store.audit(e) {
            return GateError::from(err);
        }
        refused
    }

    pub(super) fn receive(
        &mut self,
        armored: &str,
        token: &Secret,
        force: bool,
        accept_sender: Option<&str>,
    ) -> Result<Reply, GateError> {
        let Some(token) = Token::parse(token.expose()) else {
            let e = ShareError::TokenInvalid;
            return Err(self.receive_refused(
                crate::error::share_code(&e),
                GateError::from(e),
                None,
            ));
        };
        let Some(identity) = self.load_identity()? else {
            let e = ShareError::NotForUs;
            return Err(self.receive_refused(
                crate::error::share_code(&e),
                GateError::from(e),
                None,
            ));
        };
        let manifest = match package::open(armored.as_bytes(), &identity, &token) {
            Ok(m) => m,
            Err(e) => {
                return Err(self.receive_refused(
                    crate::error::share_code(&e),
                    GateError::from(e),
                    None,
                ));
            }
        };
        let id = manifest.package_id.clone();
        let me = identity.public();
        if manifest.recipient != me.recipient {
            let e = ShareError::NotForUs;
            return Err(self.receive_refused(
                crate::error::share_code(&e),
                GateError::from(e),
                Some(&id),
            ));
        }
        let now = store::now();
        if now > manifest.expires {
            let resp = GateError::new(
                ErrorCode::PackageExpired,
                format!("package {id} expired at {} (unix)", manifest.expires),
            )
            .hint("ask the sender for a new package");
            return Err(self.receive_refused(ErrorCode::PackageExpired, resp, Some(&id)));
        }
        if manifest.created > now + CLOCK_SKEW_SECS {
            let resp = GateError::new(
                ErrorCode::PackageExpired,
                format!(
                    "package {id} is not valid yet: it is dated {} (unix), in the future",
                    manifest.created
                ),
            )
            .hint("check both machines' clocks");
            return Err(self.receive_refused(ErrorCode::PackageExpired, resp, Some(&id)));
        }
        if manifest.expires < manifest.created || manifest.expires - manifest.created > MAX_TTL_SECS
        {
            let e = ShareError::Invalid(
                "it expires before it was created, or lives longer than 30 days".into(),
            );
            return Err(self.receive_refused(
                crate::error::share_code(&e),
                GateError::from(e),
                Some(&id),
            ));
        }
        let ledger: Vec<ReceivedPackage> =
            super::system::load(self.store, &coord(LEDGER)?, "received packages")?
                .unwrap_or_default();
        if ledger.iter().any(|p| p.package_id == id) {
            let resp = GateError::new(
                ErrorCode::PackageAlreadyReceived,
                format!("package {id} was received already: a token opens a package once"),
            )
            .hint("ask the sender for a new package");
            return Err(self.receive_refused(ErrorCode::PackageAlreadyReceived, resp, Some(&id)));
        }
        // Every coordinate: valid, unique, in the package's environment, never production.
        let vault = self.sharing_vault()?;
        let mut coords = Vec::with_capacity(manifest.records.len());
        for r in &manifest.records {
            let c = Coordinate::parse(&r.coordinate)
                .ok()
                .filter(|c| {
                    c.pin() == kovra_core::coord::Pin::Scope && c.env() == manifest.environment
                })
                .ok_or_else(|| {
                    GateError::new(
                        ErrorCode::PackageInvalid,
                        format!("package {id} holds an invalid coordinate"),
                    )
                })?;
            if coords.contains(&c) {
                return Err(GateError::new(
                    ErrorCode::PackageInvalid,
                    format!("package {id} holds {c} twice"),
                ));
            }
            coords.push(c);
        }
        let env_coord =
            coord(&format!("secret:{}/kovra/share", manifest.environment)).map_err(|_| {
                GateError::new(
                    ErrorCode::PackageInvalid,
                    format!("package {id} names an invalid environment"),
                )
            })?;
        // Scope first, as everywhere: an environment this session cannot address refuses the
        // whole package (a narrower scope must never skip a rule, only add refusals).
        match self.decide_facts(&vault, &env_coord, None, Op::plain(Operation::Import)) {
            Decision::Allow | Decision::NeedsProof(_) => {}
            Decision::Deny(r) => {
                return Err(self.sharing_denied(
                    "receive",
                    r,
                    format!("package {id}, environment {}", manifest.environment),
                ));
            }
            Decision::Unaddressable => {
                let resp = GateError::new(
                    ErrorCode::NotFound,
                    format!(
                        "environment {} is not addressable in this session's scope",
                        manifest.environment
                    ),
                );
                return Err(self.receive_refused(ErrorCode::NotFound, resp, Some(&id)));
            }
        }
        // The sender.
        let senders: Vec<AcceptedSender> =
            super::system::load(self.store, &coord(SENDERS)?, "accepted senders")?
                .unwrap_or_default();
        let known = senders.iter().any(|s| {
            s.fingerprint == manifest.sender.fingerprint
                && s.signing_key == manifest.sender.signing_key
        });
        let accepting = !known && accept_sender == Some(manifest.sender.fingerprint.as_str());
        if !known && !accepting {
            let mut e = self
                .info
                .entry("receive", None, Some(&vault), "sender-unknown");
            e.detail = Some(format!("package {id} from {}", manifest.sender.fingerprint));
            self.store.audit(e)?;
            return Ok(Reply::SenderUnknown {
                fingerprint: manifest.sender.fingerprint.clone(),
                recipient: manifest.sender.recipient.clone(),
                package_id: id,
                environment: manifest.environment.clone(),
                records: manifest.records.len(),
            });
        }
        // Records: new ones are created, existing ones only with --force and a proof.
        let mut existing = Vec::with_capacity(coords.len());
        let mut decisions = Vec::with_capacity(coords.len());
        let mut conflicts = Vec::new();
        for c in &coords {
            let record = self.store.find(&vault, c)?;
            let d = self.decide_one(&vault, c, record.as_ref(), Op::plain(Operation::Import));
            match d {
                Decision::Allow | Decision::NeedsProof(_) => {}
                Decision::Deny(r) => {
                    return Err(self.sharing_denied("receive", r, format!("package {id}, {c}")));
                }
                Decision::Unaddressable => {
                    let resp = GateError::not_found(c);
                    return Err(self.receive_refused(ErrorCode::NotFound, resp, Some(&id)));
                }
            }
            if record.is_some() {
                conflicts.push(c.to_string());
            }
            decisions.push(d);
            existing.push(record);
        }
        let decision = Decision::all(decisions);
        if !conflicts.is_empty() && !force {
            let resp = GateError::new(
                ErrorCode::RecordExists,
                format!(
                    "{} already exist: {}",
                    conflicts.len(),
                    conflicts.join(", ")
                ),
            )
            .hint(
                "receive into another project with --project, or replace them with --force (asks for your passphrase)",
            );
            return Err(self.receive_refused(ErrorCode::RecordExists, resp, Some(&id)));
        }
        if accepting {
            self.facts.push(kovra_proto::Fact {
                name: "sender".into(),
                value: manifest.sender.fingerprint.clone(),
                untrusted: true,
            });
            self.vault_gate(VaultOperation::AcceptSender, "accept-sender")?;
        }
        if let Decision::NeedsProof(r) = decision {
            self.facts.push(kovra_proto::Fact {
                name: "replaces".into(),
                value: conflicts.join(", "),
                untrusted: false,
            });
            let message = format!("receive package {id}: {}", r.message());
            return Err(self.needs_proof("receive", None, Some(&vault), r, message));
        }
        self.import(
            &manifest, &vault, coords, existing, ledger, senders, accepting,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn import(
        &mut self,
        manifest: &Manifest,
        vault: &VaultName,
        coords: Vec<Coordinate>,
        existing: Vec<Option<kovra_core::store::Record>>,
        mut ledger: Vec<ReceivedPackage>,
        mut senders: Vec<AcceptedSender>,
        accepting: bool,
    ) -> Result<Reply, GateError> {
        let id = &manifest.package_id;
        let now = store::now();
        let mut values: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(coords.len());
        let mut metas: Vec<Metadata> = Vec::with_capacity(coords.len());
        for ((c, r), old) in coords.iter().zip(&manifest.records).zip(&existing) {
            let value = r.value()?;
            if value.is_empty() || value.len() > 256 * 1024 {
                return Err(GateError::new(
                    ErrorCode::PackageInvalid,
                    format!("{c} has an empty or oversized value"),
                ));
            }
            metas.push(imported_metadata(
                c.clone(),
                Offered {
                    sensitivity: r.sensitivity,
                    revealable: r.revealable,
                    description: &r.description,
                    totp: r.totp,
                },
                old.as_ref().map(|o| &o.meta),
                self.production(c.env()),
                now,
            ));
            values.push(value);
        }
        ledger.push(ReceivedPackage {
            package_id: id.clone(),
            sender: manifest.sender.fingerprint.clone(),
            received: now,
        });
        if ledger.len() > LEDGER_MAX {
            let excess = ledger.len() - LEDGER_MAX;
            ledger.drain(..excess);
        }
        if accepting {
            senders.push(AcceptedSender {
                fingerprint: manifest.sender.fingerprint.clone(),
                recipient: manifest.sender.recipient.clone(),
                signing_key: manifest.sender.signing_key.clone(),
                accepted: now,
            });
        }
        let mut summary = self.info.entry("receive", None, Some(vault), "allow");
        if self.presence == kovra_core::policy::Presence::Proven {
            summary.reason = Some("proof-of-presence".into());
        }
        summary.detail = Some(format!(
            "package {id} from {} env {} records {}",
            manifest.sender.fingerprint,
            manifest.environment,
            coords
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        super::system::ensure_vault(self.store, &summary)?;
        let ledger_json = Zeroizing::new(serde_json::to_vec(&ledger).unwrap_or_default());
        let senders_json = Zeroizing::new(serde_json::to_vec(&senders).unwrap_or_default());
        let ledger_meta = super::system::meta(
            self.store,
            &coord(LEDGER)?,
            "packages received (each opens once)",
        )?;
        let senders_meta = super::system::meta(
            self.store,
            &coord(SENDERS)?,
            "senders whose packages this vault accepts",
        )?;
        let mut items: Vec<(VaultName, Metadata, Option<&[u8]>)> = metas
            .into_iter()
            .zip(values.iter())
            .map(|(m, v)| (vault.clone(), m, Some(v.as_slice())))
            .collect();
        items.push((VaultName::System, ledger_meta, Some(ledger_json.as_slice())));
        if accepting {
            items.push((
                VaultName::System,
                senders_meta,
                Some(senders_json.as_slice()),
            ));
        }
        let mut audit: Vec<AuditEntry> = coords
            .iter()
            .map(|c| {
                let mut e = self.allowed("receive", c, vault);
                e.detail = Some(format!("package {id}"));
                e
            })
            .collect();
        if accepting {
            let mut e = self.info.entry("accept-sender", None, None, "allow");
            e.reason = Some("proof-of-presence".into());
            e.detail = Some(format!("sender {}", manifest.sender.fingerprint));
            audit.push(e);
        }
        audit.push(summary);
        self.store.put_many(items, audit)?;
        for c in &coords {
            self.close_request(c, vault);
        }
        Ok(Reply::Received {
            package_id: id.clone(),
            sender_fingerprint: manifest.sender.fingerprint.clone(),
            environment: manifest.environment.clone(),
            imported: coords.iter().map(ToString::to_string).collect(),
            vault: vault.label(),
        })
    }
}
