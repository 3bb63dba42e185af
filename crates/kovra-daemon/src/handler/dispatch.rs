//! `dispatch`: a request that passed `handle`'s checks goes on from here. The lifecycle
//! requests (status, init, unlock, lock, handover, verify) are answered here; every other one
//! gets a `Gate` over the unlocked store, its approval or proof is checked, and `Gate::run`
//! sends it to its handler (`route`).

use super::*;

impl Daemon {
    pub(super) fn dispatch(
        &self,
        inner: &mut Inner,
        info: &Info,
        request: Request,
        proof: Option<Proof>,
        digest: [u8; 32],
        program: Option<Result<crate::program::Program, GateError>>,
    ) -> (Result<Reply, GateError>, Option<Plan>) {
        let result = match request {
            Request::Status => {
                let mut status = self.status(inner, &info.scope);
                status.agent = info.agent.as_ref().map(|p| p.name.clone());
                if status.agent.is_some() {
                    // The vault's size is not the profile's business.
                    status.records = None;
                }
                Ok(Reply::Status(status))
            }
            Request::Init {
                passphrase,
                unattended,
            } => self.init(inner, info, &passphrase, unattended),
            Request::Unlock {
                passphrase,
                code,
                unattended,
                prior_failures,
                prior_bypasses,
            } => {
                for detail in prior_bypasses {
                    if inner.bypasses_while_locked.len() < scan::MAX_PENDING_BYPASSES {
                        let detail: String = detail
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(400)
                            .collect();
                        inner.bypasses_while_locked.push(detail);
                    }
                }
                // Carried over from the locked daemon this one replaced, so a guess made
                // there still shows at the next unlock.
                inner.failed_unlocks_while_locked = inner
                    .failed_unlocks_while_locked
                    .saturating_add(prior_failures.min(1000));
                inner.failures = inner.failures.max(prior_failures.min(5));
                self.unlock(inner, info, &passphrase, code.as_ref(), unattended)
            }
            Request::Recover {
                kit,
                passphrase,
                unattended,
            } => self.recover(inner, info, &kit, &passphrase, unattended),
            Request::Restore {
                path,
                passphrase,
                allow_rollback,
                unattended,
            } => self.restore(inner, info, &path, &passphrase, allow_rollback, unattended),
            Request::Lock => {
                Self::lock_now(inner, "requested");
                Ok(Reply::Done {
                    message: "vault locked".into(),
                })
            }
            Request::Shutdown => {
                Self::lock_now(inner, "shutdown");
                Ok(Reply::Done {
                    message: "daemon stopping".into(),
                })
            }
            Request::Handover => match inner.store {
                Some(_) => Err(GateError::new(
                    ErrorCode::VaultUnlocked,
                    "this daemon is unlocked; it hands over only while locked",
                )
                .hint("`kovra lock` or `kovra daemon stop` first")),
                None => Ok(Reply::HandedOver {
                    failed_unlocks: inner.failed_unlocks_while_locked,
                    bypasses: inner.bypasses_while_locked.clone(),
                }),
            },
            Request::Verify { nonce, unattended } => match inner.store.as_ref() {
                Some(store) => {
                    if unattended {
                        inner.passphrase_proofs = false;
                    }
                    let verifier = store.proof_verifier();
                    Ok(Reply::Verified {
                        kdf: verifier.kdf.clone(),
                        daemon_tag: hex::encode(proof::tag(
                            &verifier.key,
                            proof::Role::Daemon,
                            &nonce,
                            &proof::VERIFY_DIGEST,
                        )),
                    })
                }
                None => Err(GateError::locked()),
            },
            // While locked a bypass cannot be written: it is kept (bounded) and written at the
            // next unlock, so locking first does not hide one.
            Request::ScanBypass { purpose, place }
                if inner.store.is_none() && LockedStore::exists(&self.paths.home) =>
            {
                if inner.bypasses_while_locked.len() < scan::MAX_PENDING_BYPASSES {
                    let mut detail = scan::bypass_detail(&purpose, &place);
                    detail.push_str(&format!(
                        " (while locked; pid {}, {})",
                        info.pid,
                        info.exe.as_deref().unwrap_or("?")
                    ));
                    inner.bypasses_while_locked.push(detail);
                }
                Ok(Reply::Done {
                    message: "the vault is locked: the bypass goes on the trail at the next unlock"
                        .into(),
                })
            }
            other => {
                let facts = describe(&other);
                let Some(mut gate) = Gate::over(self, inner, info, digest, facts, program) else {
                    let refused = if LockedStore::exists(&self.paths.home) {
                        GateError::locked()
                    } else {
                        GateError::from(StoreError::NotInitialized(self.paths.home.clone()))
                    };
                    return (Err(refused), None);
                };
                // An out-of-band approval of this very request counts as its proof, once, on
                // the socket it was parked from.
                let asker = info.agent.as_ref().map(|p| p.name.as_str());
                if proof.is_none()
                    && let Some((id, by)) = gate.approvals.take_approved(&digest, asker)
                {
                    gate.proven_by = by;
                    let mut e = info.entry("approval-used", None, None, "allow");
                    e.detail = Some(format!("approval {id}"));
                    if let Err(err) = gate.store.audit(e) {
                        return (Err(GateError::from(err)), None);
                    }
                    gate.presence = Presence::Proven;
                }
                if let Request::Run(run) = &other {
                    gate.parked_run = Some(crate::session_grants::ParkedRun {
                        argv: run.argv.clone(),
                        cwd: run.cwd.clone(),
                        refs_path: run.refs_path.clone(),
                        refs_sha256: kovra_core::crypto::sha256(&[run
                            .refs
                            .as_deref()
                            .unwrap_or_default()
                            .as_bytes()]),
                        digest,
                        socket: asker.map(str::to_string),
                        production: false,
                        coordinates: Default::default(),
                    });
                    if proof.is_none()
                        && let Err(err) = gate.consult_run_grant()
                    {
                        return (Err(err), None);
                    }
                }
                if let Some(p) = proof {
                    match gate.verify_proof(&p) {
                        Ok(()) => {
                            *gate.failures = 0;
                            gate.presence = Presence::Proven;
                        }
                        Err(refused) => {
                            *gate.failures += 1;
                            return (Err(refused), None);
                        }
                    }
                }
                return gate.run(other);
            }
        };
        (result, None)
    }
}
