//! The gate itself: a request's facts, the proof that may come with it, the one call to
//! policy per coordinate, and the audited reply for every decision that is not `Allow`.

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::model::{Metadata, Operation, Sensitivity, VaultName};
use kovra_core::policy::{
    self, Allowed, Decision, Presence, ProofKind, ProofKinds, ProofNeed, RecordFacts,
};
use kovra_core::proof;
use kovra_core::secret::SecretBytes;
use kovra_core::store::{Record, StoreError, UnlockedStore};
use kovra_core::totp;
use kovra_proto::ErrorCode;
use kovra_proto::{Fact, Proof, RecordView};

use crate::approvals::Approvals;
use crate::error::GateError;
use crate::proof::{ChallengeError, Challenges};

use super::{Daemon, Info, broker};

/// One operation on a record, with the change it would make.
#[derive(Clone, Copy)]
pub(super) struct Op {
    pub(super) operation: Operation,
    pub(super) new_sensitivity: Option<Sensitivity>,
    pub(super) new_revealable: Option<bool>,
    pub(super) delivery: policy::Delivery,
    /// For an injection: which part of an SSH key record the line asks for.
    pub(super) key_part: policy::KeyPart,
}

impl Op {
    pub(super) fn plain(operation: Operation) -> Self {
        Op {
            operation,
            new_sensitivity: None,
            new_revealable: None,
            delivery: policy::Delivery::Value,
            key_part: policy::KeyPart::Public,
        }
    }

    /// An injection delivered as `delivery`.
    pub(super) fn inject(delivery: policy::Delivery) -> Self {
        Op {
            delivery,
            ..Op::plain(Operation::Inject)
        }
    }
}

/// Where a coordinate landed and what policy said about it.
pub(super) struct Located {
    pub(super) vault: Option<VaultName>,
    pub(super) record: Option<Record>,
    pub(super) decision: Decision,
    /// When every operation was allowed: the tokens `authorize` minted, one per operation.
    /// Private to the gate, so a `Located` (and a token) only comes from a decision.
    tokens: Vec<Allowed>,
}

impl Located {
    /// The token for `operation` (one of the located request's), if the decision allowed
    /// the whole request: what opening a value takes.
    pub(super) fn grant(&mut self, operation: Operation) -> Option<Allowed> {
        let at = self
            .tokens
            .iter()
            .position(|t| t.operation() == operation)?;
        Some(self.tokens.swap_remove(at))
    }

    fn nowhere() -> Self {
        Located {
            vault: None,
            record: None,
            decision: Decision::Unaddressable,
            tokens: Vec::new(),
        }
    }
}

/// One request's passage through policy, with the unlocked store.
pub(super) struct Gate<'a> {
    pub(super) daemon: &'a Daemon,
    pub(super) store: &'a mut UnlockedStore,
    pub(super) challenges: &'a mut Challenges,
    pub(super) approvals: &'a mut Approvals,
    /// What the human is shown if this request is parked for approval.
    pub(super) facts: Vec<Fact>,
    /// Failed proofs and passphrases, for the back-off.
    pub(super) failures: &'a mut u32,
    pub(super) info: &'a Info,
    pub(super) digest: [u8; 32],
    pub(super) presence: Presence,
    /// The project bare coordinates resolve in (the request's, or a `.env.refs` file's).
    pub(super) project: Option<String>,
    /// For injections: whether the receiving executable is allowlisted.
    pub(super) allowlisted: bool,
    /// For a TOTP record being created: its parameters.
    pub(super) totp_params: Option<totp::TotpParams>,
    /// For an SSH key record being created: its public half.
    pub(super) ssh_key_info: Option<kovra_core::sshkey::SshKeyInfo>,
    /// For a connection record being created: everything but its password.
    pub(super) db_conn_info: Option<kovra_core::dbconn::DbConnInfo>,
    /// For a signature through the ssh-agent: the verified host key (`SHA256:…`) of the
    /// session it is for.
    pub(super) bound_host: Option<String>,
    /// For a brokered ssh command: the host's facts about it.
    pub(super) remote: Option<policy::RemoteFacts>,
    /// For a request on the ssh-agent socket: its standing rules (`agent.toml`).
    pub(super) standing: Option<super::ssh_agent_rules::Standing>,
    /// The provider registry, once a broker-related request loaded it.
    pub(super) registry: Option<std::sync::Arc<kovra_broker::Registry>>,
    /// The daemon's copy of it, shared between requests while unlocked.
    pub(super) registry_cache: &'a mut Option<std::sync::Arc<kovra_broker::Registry>>,
    /// For `broker` and `bind` decisions: the provider the request names.
    pub(super) pin_target: Option<String>,
    /// For a record being created with `--provider`: its pin.
    pub(super) new_pin: Option<String>,
    /// For a run: its executable, opened and hashed (or why it could not be).
    pub(super) program: Option<Result<crate::program::Program, GateError>>,
    /// Its hash, which the digest covers and a challenge shows.
    pub(super) program_sha: Option<String>,
    /// Whether a passphrase can still prove presence to this daemon.
    pub(super) passphrase_proofs: bool,
    /// The daemon's copy of the agent profiles, replaced when they change.
    pub(super) profiles_cache: &'a mut Option<std::sync::Arc<super::agent::Profiles>>,
    /// The agent profiles' live grants on the egress proxy.
    pub(super) grants: &'a mut std::collections::HashMap<String, super::agent_grant::ProfileGrant>,
    /// Where a run finds the redactor for its values (built once per value set).
    pub(super) redactors: std::sync::Arc<crate::redactors::Redactors>,
    /// Which records are canaries, and the daemon's copy of that set.
    pub(super) canaries: std::sync::Arc<super::canary::CanarySet>,
    pub(super) canaries_cache: &'a mut Option<std::sync::Arc<super::canary::CanarySet>>,
    /// The canaries this request tripped, reported when it is done.
    pub(super) trips: super::canary::Trips,
    /// For a run: what a session grant of it names (and, once decided, what it injects).
    pub(super) parked_run: Option<crate::session_grants::ParkedRun>,
    /// The session grant that stands in for this request's proof, if one does.
    pub(super) granted_by: Option<String>,
    /// Passkey enrolments in flight.
    pub(super) ceremonies: &'a mut crate::passkey::Ceremonies,
    /// Whether a passkey is enrolled (the daemon's copy, read once per unlock).
    pub(super) passkeys_cache: &'a mut Option<bool>,
    /// Which kind of proof proved presence (with `presence` `Proven`).
    pub(super) proven_by: Option<ProofKind>,
    /// What about this request, so far, can narrow the proofs that answer it (its
    /// records' sensitivity and environments): the strictest seen.
    pub(super) proof_need: std::cell::Cell<ProofNeed>,
}

impl<'a> Gate<'a> {
    /// A gate over the unlocked store for one request (`None` while locked): nothing proven
    /// yet, the request's project, no registry loaded.
    pub(super) fn over(
        daemon: &'a Daemon,
        inner: &'a mut super::Inner,
        info: &'a Info,
        digest: [u8; 32],
        facts: Vec<Fact>,
        program: Option<Result<crate::program::Program, GateError>>,
    ) -> Option<Gate<'a>> {
        let canaries = super::canary::cached(inner);
        let store = inner.store.as_mut()?;
        super::passkey::cached(&mut inner.passkeys_enrolled, store);
        let program_sha = program
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(crate::program::Program::fingerprint);
        Some(Gate {
            daemon,
            store,
            challenges: &mut inner.challenges,
            approvals: &mut inner.approvals,
            facts,
            failures: &mut inner.failures,
            info,
            digest,
            presence: Presence::None,
            project: info.project.clone(),
            allowlisted: false,
            totp_params: None,
            ssh_key_info: None,
            db_conn_info: None,
            bound_host: None,
            remote: None,
            standing: None,
            registry: None,
            registry_cache: &mut inner.registry,
            pin_target: None,
            new_pin: None,
            program,
            program_sha,
            passphrase_proofs: inner.passphrase_proofs,
            profiles_cache: &mut inner.profiles,
            grants: &mut inner.grants,
            redactors: std::sync::Arc::clone(&inner.redactors),
            canaries,
            canaries_cache: &mut inner.canaries,
            trips: super::canary::Trips::default(),
            parked_run: None,
            granted_by: None,
            ceremonies: &mut inner.ceremonies,
            passkeys_cache: &mut inner.passkeys_enrolled,
            proven_by: None,
            proof_need: std::cell::Cell::new(ProofNeed::default()),
        })
    }
}

/// Whatever a request answered, its snapshot of the store is ended (no later request reads
/// an old view) and the canaries it tripped are reported when it is done.
impl Drop for Gate<'_> {
    fn drop(&mut self) {
        self.store.end_reads();
        self.report_trips();
    }
}

impl Gate<'_> {
    pub(super) fn verify_proof(&mut self, proof: &Proof) -> Result<(), GateError> {
        let refused = |gate: &mut Self, why: &str| {
            let mut e = gate.info.entry("proof", None, None, "deny");
            e.reason = Some(why.to_string());
            if let Err(err) = gate.store.audit(e) {
                return GateError::from(err);
            }
            GateError::new(
                ErrorCode::ProofInvalid,
                format!("the proof of presence was refused: {why}"),
            )
            .hint("retry the command to get a new challenge")
        };
        match self.challenges.take(&proof.challenge, &self.digest) {
            Ok(()) => {}
            Err(ChallengeError::Unknown) => {
                return Err(refused(self, "unknown, expired or already used challenge"));
            }
            Err(ChallengeError::WrongRequest) => {
                return Err(refused(
                    self,
                    "the challenge was issued for another request",
                ));
            }
        }
        let kinds = self.daemon.config.proof_rules().kinds;
        if let Some(assertion) = &proof.passkey {
            if !kinds.passkey {
                return Err(refused(
                    self,
                    "a passkey is not accepted as a proof here (proof_kinds)",
                ));
            }
            return match self.proof_by_passkey(&proof.challenge, assertion)? {
                Ok(()) => {
                    self.proven_by = Some(ProofKind::Passkey);
                    Ok(())
                }
                Err(why) => Err(refused(self, why)),
            };
        }
        if let Some(code) = &proof.code {
            if !kinds.code {
                return Err(refused(
                    self,
                    "a two-factor code is not accepted as a proof here (proof_kinds)",
                ));
            }
            if self.proof_by_code(code.expose())? {
                self.proven_by = Some(ProofKind::Code);
                return Ok(());
            }
            return Err(refused(self, "wrong, used or expired two-factor code"));
        }
        let Some(mac) = &proof.mac else {
            return Err(refused(
                self,
                "the proof carries neither a passphrase proof, a code nor a passkey assertion",
            ));
        };
        if !kinds.passphrase {
            return Err(refused(
                self,
                "a passphrase is not accepted as a proof here (proof_kinds)",
            ));
        }
        if !self.passphrase_proofs {
            return Err(refused(
                self,
                "this daemon was unlocked with a passphrase read from a file or descriptor, so a passphrase no longer proves presence; answer with a two-factor code or a passkey",
            ));
        }
        let key = &self.store.proof_verifier().key;
        if !proof::verify(
            key,
            proof::Role::Client,
            &proof.challenge,
            &self.digest,
            mac,
        ) {
            return Err(refused(self, "wrong passphrase"));
        }
        self.proven_by = Some(ProofKind::Passphrase);
        Ok(())
    }

    /// Note what about this request narrows the proofs that may answer it.
    pub(super) fn need_proof_for(&self, need: ProofNeed) {
        self.proof_need.set(self.proof_need.get().join(need));
    }

    /// The kinds of proof that may answer this request, from the core
    /// ([`policy::accepted_proofs`]) with what it needs so far.
    pub(super) fn accepted_proofs(&self) -> ProofKinds {
        policy::accepted_proofs(
            &self.daemon.config.proof_rules(),
            self.proof_need.get(),
            self.passkeys_cache.unwrap_or(true),
        )
    }

    /// Presence as policy sees it for a part of the request with `need`: a proof of a kind
    /// that cannot answer it (a passphrase where `passkey_for` asks for a passkey) proves
    /// nothing for it.
    pub(super) fn presence_for(&self, need: ProofNeed) -> Presence {
        self.need_proof_for(need);
        match (self.presence, self.proven_by) {
            (Presence::Proven, Some(kind)) if !self.accepted_proofs().has(kind) => Presence::None,
            (presence, _) => presence,
        }
    }

    pub(super) fn production(&self, env: &str) -> bool {
        self.daemon.config.is_production(env)
    }

    /// A record as the human approving a request reads it: sensitivity, production, vault.
    pub(super) fn describe_record(&self, coord: &Coordinate, rec: &Record) -> String {
        let production = if self.production(coord.env()) {
            ", production"
        } else {
            ""
        };
        format!(
            "sensitivity {}{production}, {} vault",
            rec.meta.sensitivity, rec.vault
        )
    }

    pub(super) fn view(&self, record: &Record) -> RecordView {
        let m = &record.meta;
        RecordView {
            coordinate: m.coordinate.to_string(),
            vault: record.vault.label(),
            env: m.coordinate.env().to_string(),
            sensitivity: m.sensitivity,
            revealable: m.revealable,
            production: self.production(m.coordinate.env()),
            description: m.description.clone(),
            version: m.version,
            created: m.created,
            updated: m.updated,
            totp: m.totp,
            provider: self.pinned_provider(m),
            provider_host: m.provider_host.clone(),
            kind: m.kind(),
            ssh_key: m.ssh_key.clone(),
            database: m.database.clone(),
        }
    }

    pub(super) fn facts(record: &Record) -> RecordFacts {
        RecordFacts {
            sensitivity: record.meta.sensitivity,
            revealable: record.meta.revealable,
            kind: record.meta.kind(),
        }
    }

    /// Decide one operation on a record (`Allow` included), minting nothing.
    pub(super) fn decide_one(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<&Record>,
        op: Op,
    ) -> Decision {
        let decision = self.judged(vault, coord, record, op, |req| {
            policy::decide(req, &self.info.scope)
        });
        self.as_missing(vault, coord, op.operation, decision)
    }

    /// Decide one operation on a record and, when allowed, mint its token.
    pub(super) fn authorize_one(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<&Record>,
        op: Op,
    ) -> Result<Allowed, Decision> {
        self.judged(vault, coord, record, op, |req| {
            policy::authorize(req, coord, &self.info.scope)
        })
        .map_err(|d| self.as_missing(vault, coord, op.operation, d))
    }

    /// Build the request's facts (with the provider pin for `broker` and `bind`) and judge.
    fn judged<T>(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<&Record>,
        op: Op,
        judge: impl FnOnce(&policy::Request<'_>) -> T,
    ) -> T {
        let facts = record.map(|r| match op.operation {
            // An SSH key record's public key and its private key are decided apart.
            Operation::Inject => policy::injected_facts(Self::facts(r), op.key_part),
            _ => Self::facts(r),
        });
        let req = policy::Request {
            canary: record.is_some_and(|r| self.is_canary(r)),
            ..self.request_facts(vault, coord, facts, op)
        };
        if matches!(op.operation, Operation::Broker | Operation::Bind) {
            let (pinned, target) = broker::pin_facts(self, record, op.operation);
            return judge(&policy::Request {
                pin: Some(policy::PinFacts {
                    pinned: pinned.as_deref(),
                    target: &target,
                }),
                ..req
            });
        }
        if op.operation == Operation::Sign {
            // Where the key may sign (the record's list) and where this signature goes (the
            // ssh-agent's verified bind; none for `kovra sign`).
            let allowed = record
                .and_then(|r| r.meta.ssh_key.as_ref())
                .map_or(&[][..], |k| k.hosts.as_slice());
            let standing = self.standing_for(record);
            return judge(&policy::Request {
                destination: Some(policy::Destination {
                    allowed,
                    bound: self.bound_host.as_deref(),
                    rules: standing.facts(),
                }),
                remote: self.remote,
                ..req
            });
        }
        if op.operation == Operation::Inject {
            let pinned = record.and_then(|r| self.pinned_provider(&r.meta));
            return judge(&policy::Request {
                pin: Some(policy::PinFacts {
                    pinned: pinned.as_deref(),
                    target: pinned.as_deref().unwrap_or_default(),
                }),
                ..req
            });
        }
        judge(&req)
    }

    /// Decide from record facts alone (what an environment-wide or package check needs).
    pub(super) fn decide_facts(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        facts: Option<RecordFacts>,
        op: Op,
    ) -> Decision {
        policy::decide(
            &self.request_facts(vault, coord, facts, op),
            &self.info.scope,
        )
    }

    pub(super) fn request_facts<'r>(
        &self,
        vault: &'r VaultName,
        coord: &'r Coordinate,
        facts: Option<RecordFacts>,
        op: Op,
    ) -> policy::Request<'r> {
        policy::Request {
            operation: op.operation,
            vault,
            env: coord.env(),
            production: self.production(coord.env()),
            record: facts,
            new_sensitivity: op.new_sensitivity,
            new_revealable: op.new_revealable,
            surface: self.info.context.surface,
            origin: self.info.origin,
            presence: self.presence_for(ProofNeed {
                high: facts.is_some_and(|f| f.sensitivity == Sensitivity::High)
                    || op.new_sensitivity == Some(Sensitivity::High),
                production: self.production(coord.env()),
            }),
            allowlisted: self.allowlisted,
            pin: None,
            delivery: op.delivery,
            profile: self.info.agent.as_ref().map(|p| policy::ProfileFacts {
                value_opt_in: p.injects_value_of(coord),
            }),
            destination: None,
            remote: None,
            canary: false,
        }
    }

    /// Decide every part of one request on a record ([`Decision::all`]); the tokens come
    /// with it only when every part is allowed.
    pub(super) fn decide_all(
        &self,
        vault: &VaultName,
        coord: &Coordinate,
        record: Option<Record>,
        ops: &[Op],
    ) -> Located {
        let judged: Vec<Result<Allowed, Decision>> = ops
            .iter()
            .map(|op| self.authorize_one(vault, coord, record.as_ref(), *op))
            .collect();
        let decision = Decision::all(judged.iter().map(|j| match j {
            Ok(_) => Decision::Allow,
            Err(d) => *d,
        }));
        let tokens = if decision == Decision::Allow {
            judged.into_iter().filter_map(Result::ok).collect()
        } else {
            Vec::new()
        };
        // A tripped canary is answered as no record at all.
        let record =
            record.filter(|_| decision != Decision::Unaddressable || !self.tripped(vault, coord));
        Located {
            vault: Some(vault.clone()),
            record,
            decision,
            tokens,
        }
    }

    /// Resolve a coordinate through the scope's vault order and decide.
    pub(super) fn locate(
        &mut self,
        coord: &Coordinate,
        ops: &[Op],
        create: bool,
    ) -> Result<Located, StoreError> {
        let order =
            policy::resolution_order(coord.pin(), self.project.as_deref(), &self.info.scope);
        // Only a project the scope can address may be reported as unknown; any other is
        // answered like an absent record.
        if let Some(project @ VaultName::Project(p)) = order.first()
            && self.info.scope.addresses_vault(project)
            && !self.store.vault_exists(project)?
        {
            return Err(StoreError::UnknownProject(p.clone()));
        }
        if create {
            let Some(vault) = order.into_iter().next() else {
                return Ok(Located::nowhere());
            };
            let record = self.store.find(&vault, coord)?;
            return Ok(self.decide_all(&vault, coord, record, ops));
        }
        for vault in order {
            if let Some(record) = self.store.find(&vault, coord)? {
                let located = self.decide_all(&vault, coord, Some(record), ops);
                if located.decision != Decision::Unaddressable {
                    return Ok(located);
                }
            }
        }
        Ok(Located::nowhere())
    }

    /// Enforce the decision ([`enforce`](Gate::enforce)) and hand out the token for
    /// `operation` (one of the located request's): what a handler that opens a value needs.
    pub(super) fn admit(
        &mut self,
        action: &str,
        coord: &Coordinate,
        located: &mut Located,
        operation: Operation,
    ) -> Result<Allowed, GateError> {
        self.enforce(action, coord, located)?;
        located
            .grant(operation)
            .ok_or_else(|| GateError::not_found(coord))
    }

    /// Open the value `allowed` names (a given version, or the current one): the one place
    /// a request reads a record's plaintext, and only with its decision's token.
    pub(super) fn open(
        &mut self,
        allowed: &Allowed,
        version: Option<u64>,
    ) -> Result<(Metadata, SecretBytes), GateError> {
        opened(allowed);
        Ok(self.store.read_allowed(allowed, version)?)
    }

    /// Open the current value `allowed` names without its metadata (which the decision was
    /// made on): what a run injects.
    pub(super) fn open_current(&mut self, allowed: &Allowed) -> Result<SecretBytes, GateError> {
        opened(allowed);
        Ok(self.store.read_allowed_value(allowed)?)
    }

    /// The fingerprint of the value `allowed` names (which opens it inside the store).
    pub(super) fn open_fingerprint(&mut self, allowed: &Allowed) -> Result<String, GateError> {
        opened(allowed);
        Ok(self.store.fingerprint_allowed(allowed)?)
    }

    /// Turn a non-Allow decision into its audited reply. `Ok(())` means go ahead.
    pub(super) fn enforce(
        &mut self,
        action: &str,
        coord: &Coordinate,
        located: &Located,
    ) -> Result<(), GateError> {
        let vault = located.vault.as_ref();
        let (decision, reason, reply) = match located.decision {
            Decision::Allow => return Ok(()),
            Decision::Unaddressable => ("unaddressable", None, GateError::not_found(coord)),
            Decision::Deny(r) => (
                "deny",
                Some(r),
                GateError::new(
                    ErrorCode::PolicyDenied,
                    format!("{action} {coord} refused: {}", r.message()),
                )
                .hint(r.hint()),
            ),
            Decision::NeedsProof(r) => {
                // A run has described its records already; anything else is described here.
                let name = coord.to_string();
                if !self.facts.iter().any(|f| f.name == name) {
                    let value = located
                        .record
                        .as_ref()
                        .map(|rec| self.describe_record(coord, rec))
                        .unwrap_or_default();
                    self.facts.push(Fact {
                        name,
                        value,
                        untrusted: false,
                    });
                }
                let message = format!("{action} {coord}: {}", r.message());
                return Err(self.needs_proof(action, Some(coord), vault, r, message));
            }
        };
        let mut entry = self.info.entry(action, Some(coord), vault, decision);
        entry.reason = reason.map(|r| r.code().to_string());
        self.store.audit(entry)?;
        Err(reply)
    }

    pub(super) fn allowed(
        &self,
        action: &str,
        coord: &Coordinate,
        vault: &VaultName,
    ) -> AuditEntry {
        let mut e = self.info.entry(action, Some(coord), Some(vault), "allow");
        if self.presence == Presence::Proven {
            e.reason = Some("proof-of-presence".into());
        } else if let Some(grant) = &self.granted_by {
            e.reason = Some("session-grant".into());
            e.detail = Some(format!("under grant {grant}"));
        }
        e
    }

    /// Gate a vault-wide operation through the core's decision, auditing a refusal.
    pub(super) fn vault_gate(
        &mut self,
        op: policy::VaultOperation,
        action: &str,
    ) -> Result<(), GateError> {
        let presence = self.presence_for(ProofNeed::default());
        match policy::decide_vault(op, &self.info.scope, presence, self.info.origin) {
            Decision::Allow => Ok(()),
            Decision::NeedsProof(r) => {
                let message = format!("{action}: {}", r.message());
                Err(self.needs_proof(action, None, None, r, message))
            }
            other => {
                let reason = match other {
                    Decision::Deny(r) => r,
                    _ => policy::Reason::OperationOutOfScope,
                };
                let mut e = self.info.entry(action, None, None, "deny");
                e.reason = Some(reason.code().to_string());
                self.store.audit(e)?;
                Err(GateError::new(
                    ErrorCode::PolicyDenied,
                    format!("{action} refused: {}", reason.message()),
                ))
            }
        }
    }
}

/// What the gate tests see of an opening: `operation coordinate`, on this thread.
#[cfg(test)]
fn opened(allowed: &Allowed) {
    OPENED.with(|o| {
        o.borrow_mut().push(format!(
            "{:?} {}",
            allowed.operation(),
            allowed.coordinate()
        ))
    });
}

#[cfg(not(test))]
fn opened(_: &Allowed) {}

#[cfg(test)]
thread_local! {
    /// Every value this thread's requests opened, in order (the gate tests read it).
    pub(super) static OPENED: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}
