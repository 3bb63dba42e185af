//! `kovra run`: resolving a `.env.refs` file through the policy gate (the executables that
//! may receive protected values are `allowlist.rs`'s).

use kovra_proto::ErrorCode;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use kovra_core::childenv;
use kovra_core::coord::{CoordError, Coordinate, CoordinateTemplate};
use kovra_core::envrefs::{self, Part, RefValue};
use kovra_core::model::{Operation, Sensitivity};
use kovra_core::policy::{self, Decision, Delivery, fallback_refused, line_enforced};
use kovra_core::secret::{SecretBytes, SecretString};
use kovra_proto::RunRequest;
use zeroize::Zeroizing;

use super::{Gate, Located, Op};
use crate::error::GateError;
use crate::run::RunPlan;

/// The bytes a line's child gets, and whether they are the secret itself (masked in its
/// output) or a placeholder.
type Opened = (Zeroizing<Vec<u8>>, bool);

/// One coordinate of a refs file, as decided.
pub(super) struct Line {
    pub(super) at: String,
    pub(super) coord: Coordinate,
    pub(super) located: Located,
    /// Whether this very line has a fallback.
    pub(super) fallback: bool,
    pub(super) delivery: Delivery,
    /// For an SSH key record: its public key, or (`#private`) its private key.
    pub(super) key_part: policy::KeyPart,
}

impl Line {
    /// The line's record and vault, which a line delivered through a proxy always has
    /// (`what` names the delivery in the internal error otherwise).
    pub(super) fn record_in_vault(
        &self,
        what: &str,
    ) -> Result<(&kovra_core::store::Record, kovra_core::model::VaultName), GateError> {
        let internal = |why: String| GateError::new(ErrorCode::Internal, why);
        let record = self
            .located
            .record
            .as_ref()
            .ok_or_else(|| internal(format!("{what} without its record")))?;
        let vault = self
            .located
            .vault
            .clone()
            .ok_or_else(|| internal(format!("{what} without its vault")))?;
        Ok((record, vault))
    }
}

/// What pass 2 produces besides the environment: the trail and the placeholders issued.
#[derive(Default)]
pub(super) struct Delivered {
    audits: Vec<kovra_core::audit::AuditEntry>,
    /// For each injection: its audit entry's index, the unpinned coordinate and the variable
    /// (for the usage index, `crate::usage`).
    used: Vec<(usize, String, String)>,
    issued: super::egress::Issued,
    db: super::dbproxy::DbIssued,
}

/// A value resolved for one variable, with the secrets inside it (for redaction).
struct Resolved {
    value: Zeroizing<String>,
    secrets: Vec<Zeroizing<Vec<u8>>>,
    /// For `fd:secret:…`: the bytes to deliver on a descriptor instead of `value`.
    descriptor: Option<Zeroizing<Vec<u8>>>,
}

/// The most a value delivered on a descriptor may hold: what a pipe takes without a reader,
/// so the daemon writes it whole before the child starts.
const DESCRIPTOR_MAX: usize = 64 * 1024;

impl Gate<'_> {
    fn coordinate_in(
        &self,
        template: &str,
        env_name: Option<&str>,
        at: &str,
    ) -> Result<Coordinate, GateError> {
        CoordinateTemplate::parse(template)
            .and_then(|t| t.resolve(env_name))
            .map_err(|e| match e {
                CoordError::Unsubstituted => GateError::new(
                    ErrorCode::EnvNeeded,
                    format!("`${{ENV}}` in {at} needs an environment"),
                )
                .hint(envrefs::ENV_HINT),
                e => GateError::new(
                    ErrorCode::CoordinateInvalid,
                    format!("{at}: {template}: {e}"),
                )
                .hint(e.hint()),
            })
    }

    /// Resolve every variable of the refs file, deciding each coordinate as an injection.
    /// Nothing is read from the store until every decision allows it.
    pub(super) fn prepare_run(
        &mut self,
        mut req: RunRequest,
    ) -> Result<(RunPlan, Vec<String>), GateError> {
        let contained = matches!(self.info.namespaces, crate::nsjoin::Namespaces::Foreign(_));
        if let Decision::Deny(reason) = policy::run_allowed(self.info.agent.is_some(), contained) {
            let mut e = self.info.entry("run", None, None, "deny");
            e.reason = Some(reason.code().to_string());
            e.detail = Some(req.argv.first().cloned().unwrap_or_default());
            self.store.audit(e)?;
            return Err(GateError::new(
                ErrorCode::PolicyDenied,
                format!("run refused: {}", reason.message()),
            )
            .hint(reason.hint()));
        }
        let mut program = self.program.take().unwrap_or_else(|| {
            Err(GateError::new(
                ErrorCode::Internal,
                "a run without its program",
            ))
        })?;
        let cwd = PathBuf::from(&req.cwd);
        if let Some(name) = req
            .keep_env
            .iter()
            .find(|n| childenv::is_hook_variable(n) || n.starts_with("KOVRA_"))
        {
            return Err(GateError::new(
                ErrorCode::KeepEnvRefused,
                format!(
                    "--keep-env {name}: a variable that makes a loader, interpreter or shell run other code is never passed to a run"
                ),
            )
            .hint("pass what the program needs another way (an argument, a refs line)"));
        }
        let caller_env: Vec<(String, String)> = std::mem::take(&mut req.env)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("KOVRA_"))
            .collect();
        let lookup: HashMap<&str, &str> = caller_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let file = req.refs_path.clone().unwrap_or_else(|| ".env.refs".into());
        let refs = match (&req.refs, req.no_secrets) {
            (Some(text), false) => envrefs::parse(&file, text)
                .map_err(|e| GateError::new(ErrorCode::RefsInvalid, e.to_string()))?,
            _ => envrefs::RefsFile {
                project: None,
                env: None,
                entries: Vec::new(),
            },
        };
        // The one `${ENV}` rule (`envrefs::choose_env`): the client sent `--env` or, without
        // one, what the rule gave it (the file, then KOVRA_ENV); a client that sent nothing
        // still gets the file's `env =` line.
        let env_name = envrefs::choose_env(req.env_name.as_deref(), refs.env.as_deref(), None)
            .map(|(e, _)| e.to_string());
        if self.project.is_none() {
            self.project = refs.project.clone();
        }
        let only: BTreeSet<&str> = req.only.iter().map(String::as_str).collect();
        for name in &only {
            if !refs.entries.iter().any(|e| e.name == *name) {
                return Err(GateError::new(
                    ErrorCode::RefsInvalid,
                    format!("--only {name}: {file} defines no such variable"),
                ));
            }
        }
        let entries: Vec<&envrefs::Entry> = refs
            .entries
            .iter()
            .filter(|e| only.is_empty() || only.contains(e.name.as_str()))
            .collect();

        // Pass 1: decide every coordinate (policy only; no value is read).
        let needs_allowlist = !entries.is_empty();
        // A caller in other namespaces (a sandbox) is never allowlisted. What a program does
        // there depends on files the daemon never checked: the sandbox decides what every
        // path means inside (its loader and libraries, its /tmp, whatever it bind-mounts),
        // and the allowlist's entries are the daemon's paths. Being in a sandbox may only
        // tighten what a run gets, so such a run is treated as an unlisted program's.
        let foreign = self.info.namespaces.foreign().cloned();
        self.allowlisted = needs_allowlist && foreign.is_none() && self.is_allowlisted(&program)?;
        self.facts.push(kovra_proto::Fact {
            name: "executable".into(),
            value: format!(
                "{} (sha256 {}){}{}",
                program.canonical.display(),
                program.sha256,
                if foreign.is_some() {
                    "; as the caller's sandbox shows it (the run starts in there)"
                } else {
                    ""
                },
                if program.user_writable {
                    "; your user can rewrite this file"
                } else {
                    ""
                }
            ),
            untrusted: true,
        });
        for (arg, sha) in &program.inputs {
            self.facts.push(kovra_proto::Fact {
                name: "reads".into(),
                value: format!("{arg} (sha256 {sha}; your user can rewrite this file)"),
                untrusted: true,
            });
        }
        // (where, coordinate, decision, whether this very line has a fallback)
        let mut decided: Vec<Line> = Vec::new();
        // Whether a profile's grant stood in for some line's proof.
        let mut line_granted = false;
        if !entries.is_empty() {
            // Pins by name need the registry (built-in and custom providers).
            self.registry()?;
        }
        for entry in &entries {
            let at = format!("{file}:{}", entry.line);
            let fallback = match &entry.value {
                RefValue::Secret { fallback, .. } => fallback.is_some(),
                _ => false,
            };
            let parts = entry.value.key_parts();
            for ((template, column), key_part) in entry.value.coordinates().into_iter().zip(parts) {
                let at = format!("{at}:{column}");
                let coord = self.coordinate_in(template, env_name.as_deref(), &at)?;
                if fallback_refused(fallback, self.production(coord.env())) {
                    return Err(GateError::new(
                        ErrorCode::FallbackRefused,
                        format!(
                            "{at}: {} has a fallback, but {} is a production environment",
                            entry.name,
                            coord.env()
                        ),
                    )
                    .hint("remove the `| fallback`: production values must come from the vault"));
                }
                let url = key_part == policy::KeyPart::Url;
                if url && foreign.is_some() {
                    return Err(GateError::new(
                        ErrorCode::SandboxUnavailable,
                        format!("{at}: `#url` lines are not served inside a sandbox yet"),
                    )
                    .hint("run it outside the sandbox, or use `kovra query` for the statements the agent needs"));
                }
                // `#url` is decided as what the child gets: the proxy's URL and a token.
                let inject = [Op {
                    key_part,
                    ..if url {
                        Op::inject(Delivery::Proxied)
                    } else {
                        Op::plain(Operation::Inject)
                    }
                }];
                // A profile's grant of this coordinate may stand in for its proof, for this
                // line only (an error ends the request: no restoring needed).
                let line_grant = self.profile_grant_for(&coord);
                let unproven = self.presence;
                if line_grant.is_some() {
                    self.presence = policy::Presence::Granted;
                }
                let located = self.locate(&coord, &inject, false)?;
                let key = located.record.as_ref().map(|r| r.meta.ssh_key.is_some());
                if key_part == policy::KeyPart::Private && key == Some(false) {
                    return Err(GateError::new(
                        ErrorCode::NotSshKey,
                        format!("{at}: `#private` asks for an SSH key, and {coord} is not an SSH key record"),
                    )
                    .hint("drop `#private`, or point the line at a key (`kovra keygen COORD`)"));
                }
                // A key is delivered as itself: a placeholder stands for a value sent to a
                // provider's hosts, which a key never is.
                let (located, delivery) = if url {
                    (located, Delivery::Proxied)
                } else if key == Some(true) {
                    (located, Delivery::Value)
                } else {
                    self.delivered(&coord, located, req.delivery)
                };
                self.presence = unproven;
                if let Some(grant) = line_grant
                    && located.decision == Decision::Allow
                {
                    line_granted = true;
                    let mut e = self.info.entry("grant-use", Some(&coord), None, "allow");
                    e.detail = Some(format!("grant {grant}"));
                    self.store.audit(e)?;
                }
                decided.push(Line {
                    at,
                    coord,
                    located,
                    fallback,
                    delivery,
                    key_part,
                });
            }
        }
        // What a session grant of this run would name, should it be parked.
        let production = decided.iter().any(|l| self.production(l.coord.env()));
        if let Some(run) = self.parked_run.as_mut() {
            run.production = production;
        }
        let named = decided
            .iter()
            .map(|l| self.grant_coordinate(&l.coord))
            .collect();
        if let Some(run) = self.parked_run.as_mut() {
            run.coordinates = named;
        }
        // Refusals first, then a single proof for the whole run.
        let worst = Decision::worst(decided.iter().map(|l| l.located.decision));
        // What an approver reads is only ever read if some line asks for a proof: a run that
        // asks for none skips describing its records (work for every value of every run).
        let approvable = decided
            .iter()
            .any(|l| matches!(l.located.decision, Decision::NeedsProof(_)));
        // The human approving this run sees every coordinate it would inject.
        if approvable {
            for Line {
                at,
                coord,
                located,
                delivery,
                ..
            } in &decided
            {
                if let Some(rec) = &located.record {
                    let how = match delivery {
                        Delivery::Value => String::new(),
                        Delivery::Proxied => format!(
                            "; through kovra's database proxy ({}), the program holding a token, never the password",
                            if policy::proxied_read_only(self.info.origin) {
                                "read-only sessions"
                            } else {
                                "read-write sessions"
                            }
                        ),
                        Delivery::Placeholder => format!(
                            "; as a placeholder, the value going only to {}'s hosts",
                            self.pinned_provider(&rec.meta).unwrap_or_default()
                        ),
                    };
                    self.facts.push(kovra_proto::Fact {
                        name: coord.to_string(),
                        value: format!("{}{how} ({at})", self.describe_record(coord, rec)),
                        untrusted: false,
                    });
                }
            }
        }
        let records: Vec<(Sensitivity, bool)> = decided
            .iter()
            // A placeholder line puts no value in the child: it does not protect the run.
            .filter(|l| l.delivery == Delivery::Value)
            .filter_map(|l| {
                let rec = l.located.record.as_ref()?;
                Some((rec.meta.sensitivity, self.production(l.coord.env())))
            })
            .collect();
        // A grant stands in for a proof: its child is protected as the approved run's was.
        let proof_involved = matches!(worst, Decision::NeedsProof(_))
            || self.presence == policy::Presence::Proven
            || self.presence == policy::Presence::Granted
            || line_granted
            || self.allowlisted;
        let protected = childenv::run_is_protected(&records, proof_involved);
        if protected && approvable {
            let mut names: Vec<&str> = childenv::CLEAN.to_vec();
            names.push("LC_*");
            names.extend(req.keep_env.iter().map(String::as_str));
            self.facts.push(kovra_proto::Fact {
                name: "environment".into(),
                // What the child gets is what the approver reads: the two Python settings
                // are set as well (no `.pth` file of the user's site runs).
                value: format!(
                    "only {}, PYTHONNOUSERSITE=1, PYTHONSAFEPATH=1 and the refs",
                    names.join(", ")
                ),
                untrusted: false,
            });
            // Values that decide which programs a name finds, as the requester sent them.
            for name in std::iter::once("PATH").chain(req.keep_env.iter().map(String::as_str)) {
                if let Some(v) = lookup.get(name) {
                    self.facts.push(kovra_proto::Fact {
                        name: name.to_string(),
                        value: (*v).to_string(),
                        untrusted: true,
                    });
                }
            }
            self.facts.push(kovra_proto::Fact {
                name: "note".into(),
                value: "while this runs, any process of yours can read these values (/proc/PID/environ of the child)".into(),
                untrusted: false,
            });
        }
        for Line {
            at,
            coord,
            located,
            fallback: has_fallback,
            ..
        } in &decided
        {
            if line_enforced(located.decision, worst, *has_fallback) {
                match self.enforce("inject", coord, located) {
                    Err(e) if e.is_error(ErrorCode::NotFound) => {
                        return Err(GateError::new(
                            ErrorCode::Unresolved,
                            format!("{at}: {coord} does not resolve to a record in this scope"),
                        )
                        .hint(
                            "add it with `kovra add`, fix the coordinate, or check --env and --project (`kovra doctor` lists every problem)",
                        ));
                    }
                    // Name the very program, as `allow add` needs it (a sandboxed caller's
                    // programs are never allowlisted, so no command would help there).
                    Err(e)
                        if located.decision
                            == Decision::Deny(policy::Reason::ExecutableNotAllowlisted)
                            && foreign.is_none() =>
                    {
                        return Err(e.hint(format!(
                            "a human can allow this program with `kovra allow add {}` (pinned by SHA-256)",
                            program.canonical.display()
                        )));
                    }
                    Err(other) => return Err(other),
                    Ok(()) => {}
                }
            }
        }

        // A protected run executes exactly the bytes that were hashed and approved.
        if protected {
            program.seal()?;
        }
        // Pass 2: every decision allows; read the values, then build the environment.
        let mut delivered: Vec<(String, SecretString)> = Vec::with_capacity(entries.len());
        let mut secrets = Vec::new();
        let mut injected = Vec::new();
        let mut descriptors = Vec::new();
        let mut index = 0usize;
        let mut out = Delivered::default();
        for entry in &entries {
            let resolved = self.resolve_entry(
                entry,
                &mut decided,
                &mut index,
                &lookup,
                &program.canonical,
                &mut out,
            )?;
            let value = match resolved.descriptor {
                // The child reads descriptor 3, 4, …; the variable names it.
                Some(bytes) => {
                    let target = 3 + descriptors.len();
                    descriptors.push((target, SecretBytes::from(bytes)));
                    SecretString::new(target.to_string())
                }
                None => SecretString::from(resolved.value),
            };
            delivered.push((entry.name.clone(), value));
            for s in resolved.secrets {
                secrets.push((entry.name.clone(), SecretBytes::from(s)));
            }
            injected.push(entry.name.clone());
        }
        // The caller's variables (cleaned for a protected run), less those the refs set,
        // then the refs' own in their order (the parser refuses a name defined twice).
        let inherited = if protected {
            childenv::protected(&caller_env, &req.keep_env)
        } else {
            caller_env
        };
        let mut env: Vec<(String, SecretString)> = inherited
            .into_iter()
            .filter(|(k, _)| !entries.iter().any(|e| e.name == *k))
            .map(|(k, v)| (k, SecretString::new(v)))
            .chain(delivered)
            .collect();
        for (name, token) in std::mem::take(&mut out.db.tokens) {
            secrets.push((name, SecretBytes::from(token)));
        }
        // Every injection is on the trail, in one transaction, before any value leaves.
        let uses =
            crate::usage::of_run(&cwd.join(&file), &out.audits, std::mem::take(&mut out.used));
        self.store.audit_all(out.audits)?;
        self.daemon.usage.record_all(uses);
        let egress = if out.issued.swaps.is_empty() {
            None
        } else {
            Some(self.egress_for_run(out.issued, req.egress, &mut env)?)
        };
        let plan = RunPlan {
            egress,
            db: out.db.ticket,
            program,
            argv: req.argv,
            cwd,
            env,
            secrets,
            redactors: self.redactors.claim(),
            tty: req.tty,
            // A foreign caller's program was opened beneath its root: that descriptor is
            // exactly the file it sees, and its path means something else to the daemon.
            exec_by_descriptor: protected || foreign.is_some(),
            descriptors,
            foreign,
        };
        Ok((plan, injected))
    }

    fn resolve_entry(
        &mut self,
        entry: &envrefs::Entry,
        decided: &mut [Line],
        index: &mut usize,
        caller: &HashMap<&str, &str>,
        program: &Path,
        out: &mut Delivered,
    ) -> Result<Resolved, GateError> {
        // A line's value is opened with the token its decision minted; a line without one
        // (absent, and falling back) has none to open.
        // The bytes the child gets, and whether they are the secret itself (to be masked in
        // its output) or a placeholder standing for it.
        let mut next_secret = |gate: &mut Self| -> Result<Option<Opened>, GateError> {
            let line = &mut decided[*index];
            *index += 1;
            let Some(allowed) = line.located.grant(Operation::Inject) else {
                return Ok(None);
            };
            // An SSH key record's public key is its metadata: the private key stays sealed.
            let public = line
                .located
                .record
                .as_ref()
                .and_then(|r| r.meta.ssh_key.as_ref());
            if let (Some(key), policy::KeyPart::Public) = (public, line.key_part) {
                let mut audit = gate.allowed("inject", &line.coord, allowed.vault());
                audit.detail = Some(format!(
                    "{} into {} (public key {})",
                    entry.name,
                    program.display(),
                    key.fingerprint
                ));
                out.used.push((
                    out.audits.len(),
                    line.coord.unpinned().to_string(),
                    entry.name.clone(),
                ));
                out.audits.push(audit);
                return Ok(Some((
                    Zeroizing::new(key.public_key.clone().into_bytes()),
                    false,
                )));
            }
            let value = gate.open_current(&allowed)?;
            let placeholder = line.delivery == Delivery::Placeholder;
            let proxied = line.delivery == Delivery::Proxied;
            let mut audit = gate.allowed("inject", &line.coord, allowed.vault());
            audit.detail = Some(format!(
                "{} into {}{}",
                entry.name,
                program.display(),
                if placeholder {
                    " as a placeholder"
                } else if proxied {
                    " as a URL of kovra's database proxy"
                } else {
                    ""
                }
            ));
            if allowed.obligations().notify_medium_use {
                crate::approvals::notify_medium_use("inject", &line.coord.to_string());
            }
            out.used.push((
                out.audits.len(),
                line.coord.unpinned().to_string(),
                entry.name.clone(),
            ));
            out.audits.push(audit);
            if placeholder {
                let stand_in = gate.issue_placeholder(line, value, &entry.name, &mut out.issued)?;
                return Ok(Some((stand_in, false)));
            }
            if proxied {
                // The token is the run's credential while it lives: masked in its output.
                let url = gate.issue_connection(line, value, &entry.name, &mut out.db)?;
                return Ok(Some((url, true)));
            }
            Ok(Some((value.into_zeroizing(), true)))
        };
        let masked = |v: &Zeroizing<Vec<u8>>, secret: bool| -> Vec<Zeroizing<Vec<u8>>> {
            if secret { vec![v.clone()] } else { Vec::new() }
        };
        let text = |bytes: &[u8]| -> Result<Zeroizing<String>, GateError> {
            std::str::from_utf8(bytes).map(|s| Zeroizing::new(s.to_string())).map_err(|_| {
                GateError::new(
                    ErrorCode::ValueNotText,
                    format!(
                        "{}: the value is not UTF-8 text and cannot go into an environment variable",
                        entry.name
                    ),
                )
            })
        };
        match &entry.value {
            RefValue::Descriptor { coordinate, .. } => match next_secret(self)? {
                Some((v, _)) if v.len() > DESCRIPTOR_MAX => Err(GateError::new(
                    ErrorCode::ValueTooLarge,
                    format!(
                        "{}: {coordinate} holds more than {} KiB, more than a descriptor carries here",
                        entry.name,
                        DESCRIPTOR_MAX / 1024
                    ),
                )
                .hint("deliver it as a file the program reads, or in the environment")),
                Some((v, secret)) => Ok(Resolved {
                    value: Zeroizing::new(String::new()),
                    secrets: masked(&v, secret),
                    descriptor: Some(v),
                }),
                None => Err(GateError::new(
                    ErrorCode::Unresolved,
                    format!("{}: {coordinate} does not resolve to a record", entry.name),
                )),
            },
            RefValue::Secret { fallback, .. } => match next_secret(self)? {
                Some((v, secret)) => Ok(Resolved {
                    value: text(&v)?,
                    secrets: masked(&v, secret),
                    descriptor: None,
                }),
                None => Ok(Resolved {
                    value: Zeroizing::new(fallback.clone().unwrap_or_default()),
                    secrets: Vec::new(),
                    descriptor: None,
                }),
            },
            RefValue::Env { var, fallback } => match (caller.get(var.as_str()), fallback) {
                (Some(v), _) => Ok(Resolved {
                    value: Zeroizing::new((*v).to_string()),
                    secrets: Vec::new(),
                    descriptor: None,
                }),
                (None, Some(f)) => Ok(Resolved {
                    value: Zeroizing::new(f.clone()),
                    secrets: Vec::new(),
                    descriptor: None,
                }),
                (None, None) => Err(GateError::new(
                    ErrorCode::EnvUnset,
                    format!(
                        "{}: ${{env:{var}}} is not set in your environment and has no fallback",
                        entry.name
                    ),
                )
                .hint("export it, or add `| fallback`")),
            },
            RefValue::Literal { text: t } => Ok(Resolved {
                value: Zeroizing::new(t.clone()),
                secrets: Vec::new(),
                descriptor: None,
            }),
            RefValue::Template { parts } => {
                let mut value = Zeroizing::new(String::new());
                let mut secrets = Vec::new();
                for part in parts {
                    match part {
                        Part::Text { text: t } => value.push_str(t),
                        Part::Env { var } => {
                            value.push_str(caller.get(var.as_str()).copied().unwrap_or_default())
                        }
                        Part::Secret { .. } => {
                            if let Some((v, secret)) = next_secret(self)? {
                                value.push_str(&text(&v)?);
                                secrets.extend(masked(&v, secret));
                            }
                        }
                    }
                }
                Ok(Resolved {
                    value,
                    secrets,
                    descriptor: None,
                })
            }
        }
    }
}
