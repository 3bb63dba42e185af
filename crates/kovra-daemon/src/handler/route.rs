//! Routing a request that passed the gate's preliminaries to its handler, and keeping the
//! agent profiles' grants in step with what the request changed.

use kovra_proto::ErrorCode;
use kovra_proto::{Reply, Request};

use super::Gate;
use crate::broker::Plan;
use crate::error::GateError;

/// Whether a request may change what an agent profile's grant serves (a value, a pin, a
/// record's sensitivity, the registry).
fn changes_grants(request: &Request) -> bool {
    matches!(
        request,
        Request::Add { .. }
            | Request::CanaryCreate { .. }
            | Request::Keygen { .. }
            | Request::Set { .. }
            | Request::Generate { .. }
            | Request::Edit { .. }
            | Request::Remove { .. }
            | Request::Move { .. }
            | Request::Rollback { .. }
            | Request::Bind { .. }
            | Request::Receive { .. }
            | Request::Import(_)
            | Request::ProviderAdd { .. }
            | Request::ProviderRemove { .. }
            | Request::RotateKey { .. }
    )
}

/// A request answered by what its plan does outside the state lock (a brokered call, an ssh
/// command, a host pin, a query): the gate's own reply is only a placeholder for it.
fn carried(plan: Result<Plan, GateError>) -> (Result<Reply, GateError>, Option<Plan>) {
    match plan {
        Ok(plan) => (
            Err(GateError::new(
                ErrorCode::Internal,
                "this request is answered by its plan",
            )),
            Some(plan),
        ),
        Err(refused) => (Err(refused), None),
    }
}

impl Gate<'_> {
    pub(super) fn run(mut self, request: Request) -> (Result<Reply, GateError>, Option<Plan>) {
        let refresh = changes_grants(&request);
        let (result, plan) = self.route(request);
        if refresh && result.is_ok() && !self.grants.is_empty() {
            self.refresh_grants();
        }
        (result, plan)
    }

    fn route(&mut self, request: Request) -> (Result<Reply, GateError>, Option<Plan>) {
        let result = match request {
            Request::Run(run) => {
                // A run reads each of its records' rows: from one snapshot, which its audit
                // write (or the gate's end) closes.
                if let Err(e) = self.store.begin_reads() {
                    return (Err(e.into()), None);
                }
                return match self.prepare_run(*run) {
                    Ok((plan, injected)) => (
                        Ok(Reply::RunReady {
                            injected,
                            descriptors_received: false,
                        }),
                        Some(Plan::Run(Box::new(plan))),
                    ),
                    Err(refused) => (Err(refused), None),
                };
            }
            Request::Doctor {
                refs,
                refs_path,
                env_name,
                caller_vars,
            } => self.doctor(&refs, &refs_path, env_name.as_deref(), &caller_vars),
            Request::AgentCreate { spec, .. } => self.agent_create(*spec),
            Request::AgentList => self.agent_list(),
            Request::AgentRevoke { name } => self.agent_revoke(&name),
            Request::AgentEnv { agent, refs } => self.agent_env(&agent, &refs),
            Request::SandboxOpen { agent, refs } => {
                return match self.sandbox_open(&agent, &refs) {
                    Ok((grant, ticket)) => (
                        Ok(Reply::SandboxReady(Box::new(grant))),
                        Some(Plan::Sandbox(Box::new(ticket))),
                    ),
                    Err(refused) => (Err(refused), None),
                };
            }
            Request::SshAgentRules => self.ssh_agent_rules(),
            Request::SshAgentAccept { sha256, .. } => self.ssh_agent_accept(&sha256),
            Request::AllowAdd { path, .. } => self.allow_add(&path),
            Request::AllowList => self.allow_list(),
            Request::AllowRm { path } => self.allow_rm(&path),
            Request::CanaryCreate {
                coordinate,
                like,
                sensitivity,
                description,
                ..
            } => self.canary_create(&coordinate, &like, sensitivity, description),
            Request::CanaryList { .. } => self.canary_list(),
            Request::ApprovalList => self.approval_list(),
            Request::Approve { id, grant, .. } => match grant {
                Some(spec) => self.approve_with_grant(&id, spec),
                None => self.approval_decide(&id, true),
            },
            Request::Deny { id } => self.approval_decide(&id, false),
            Request::GrantList => self.grant_list(),
            Request::GrantRevoke { id } => self.grant_revoke(&id),
            Request::ApprovalWait { .. } => Err(GateError::new(
                ErrorCode::Internal,
                "approval-wait is answered before the gate",
            )),
            Request::Signal { .. } | Request::Resize { .. } => Err(GateError::new(
                ErrorCode::NoRun,
                "signal and resize are only valid during a run",
            )),
            Request::TwoFactorEnable { .. } => self.two_factor_enable(),
            Request::TwoFactorConfirm { code } => self.two_factor_confirm(&code),
            Request::TwoFactorDisable { passphrase, code } => {
                self.two_factor_disable(&passphrase, &code)
            }
            Request::TwoFactorStatus => self.two_factor_status(),
            Request::PasskeyEnrolBegin { name, origin, .. } => {
                self.passkey_enrol_begin(&name, &origin)
            }
            Request::PasskeyEnrolFinish {
                ceremony,
                credential,
            } => self.passkey_enrol_finish(&ceremony, &credential),
            Request::PasskeyList => self.passkey_list(),
            Request::PasskeyRemove { id, .. } => self.passkey_remove(&id),
            Request::Confirm { text, .. } => self.confirm(&text),
            Request::Scan(req) => self.scan(&req),
            Request::ScanBypass { purpose, place } => self.scan_bypass(&purpose, &place),
            Request::ProjectCreate { name } => self.project_create(&name),
            Request::ProjectList => self.project_list(),
            Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
                ssh_key,
                key_passphrase,
                hosts,
                database: Some(engine),
            } => {
                if totp || ssh_key || provider.is_some() || key_passphrase.is_some() {
                    Err(GateError::new(
                        ErrorCode::InvalidArgument,
                        "a connection record is neither a TOTP seed, nor an SSH key, nor pinned to a provider",
                    )
                    .hint("drop --totp, --ssh-key and --provider"))
                } else if !hosts.is_empty() {
                    Err(GateError::new(
                        ErrorCode::InvalidArgument,
                        "only an SSH key record is restricted to servers",
                    )
                    .hint("name the database's hosts in the connection string, and drop --host-key"))
                } else {
                    self.add_connection(
                        &coordinate,
                        value,
                        engine,
                        sensitivity,
                        description,
                        revealable,
                    )
                }
            }
            Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
                ssh_key: true,
                key_passphrase,
                hosts,
                ..
            } => self
                .pin_new(&coordinate, provider.as_deref())
                .and_then(|()| {
                    if totp || revealable || provider.is_some() {
                        return Err(GateError::new(
                            ErrorCode::InvalidArgument,
                            "an SSH key record is neither a TOTP seed, nor revealable, nor pinned to a provider",
                        )
                        .hint("drop --totp, --revealable and --provider"));
                    }
                    self.add_ssh_key(
                        &coordinate,
                        value,
                        key_passphrase,
                        sensitivity,
                        description,
                        hosts,
                    )
                }),
            Request::Add {
                coordinate,
                value,
                sensitivity,
                description,
                revealable,
                totp,
                provider,
                hosts,
                ..
            } => self
                .pin_new(&coordinate, provider.as_deref())
                .and_then(|()| {
                    if !hosts.is_empty() {
                        return Err(GateError::new(
                            ErrorCode::InvalidArgument,
                            "only an SSH key record is restricted to servers",
                        )
                        .hint("add the key with --ssh-key, or drop --host-key"));
                    }
                    self.add(
                        &coordinate,
                        value,
                        sensitivity,
                        description,
                        revealable,
                        totp,
                    )
                }),
            Request::Set {
                coordinate, value, ..
            } => self.set(&coordinate, value),
            Request::Keygen {
                coordinate,
                key_type,
                sensitivity,
                description,
                hosts,
            } => self.keygen(&coordinate, key_type, sensitivity, description, hosts),
            Request::PublicKey { coordinate } => self.public_key(&coordinate),
            Request::Sign {
                coordinate,
                namespace,
                sha512,
                ..
            } => self.sign(&coordinate, &namespace, &sha512),
            Request::Generate {
                coordinate,
                length,
                charset,
                sensitivity,
                description,
                revealable,
                overwrite,
                provider,
                ..
            } => self
                .pin_new(&coordinate, provider.as_deref())
                .and_then(|()| {
                    self.generate(
                        &coordinate,
                        length,
                        charset,
                        sensitivity,
                        description,
                        revealable,
                        overwrite,
                    )
                }),
            Request::Api(api) => {
                return carried(self.prepare_api(*api).map(|p| Plan::Api(Box::new(p))));
            }
            Request::Ssh(ssh) => {
                return carried(self.prepare_ssh(&ssh).map(|p| Plan::Ssh(Box::new(p))));
            }
            Request::SshHostAdd { spec, .. } => {
                return carried(self.ssh_host_add(&spec).map(|p| Plan::SshPin(Box::new(p))));
            }
            Request::Query(q) => {
                return carried(self.prepare_query(&q).map(|p| Plan::Query(Box::new(p))));
            }
            Request::SshHostList => self.ssh_host_list(),
            Request::SshHostRemove { name } => self.ssh_host_remove(&name),
            Request::SecretRequest {
                coordinate,
                description,
            } => self.secret_request(&coordinate, &description),
            Request::SecretRequests => self.secret_requests(),
            Request::Identity { create } => self.identity(create),
            Request::Share {
                env,
                groups,
                to,
                ttl_secs,
                ..
            } => self.share(&env, &groups, &to, ttl_secs),
            Request::Import(import) => self.import_dotenv(*import),
            Request::Export(export) => self.export_dotenv(&export),
            Request::Receive {
                package,
                token,
                force,
                accept_sender,
                ..
            } => self.receive(&package, &token, force, accept_sender.as_deref()),
            Request::ProviderList => self.provider_list(),
            Request::ProviderShow { name } => self.provider_show(&name),
            Request::ProviderAdd { toml, .. } => self.provider_add(&toml),
            Request::ProviderRemove { name } => self.provider_remove(&name),
            Request::Bind {
                coordinate,
                provider,
                host,
                ..
            } => self.bind(&coordinate, &provider, host.as_deref()),
            Request::List { env } => self.list(env.as_deref()),
            Request::ListStream { env, offset, limit } => {
                return match self.list_stream(env.as_deref(), offset, limit) {
                    Ok((head, plan)) => (Ok(head), Some(Plan::Records(Box::new(plan)))),
                    Err(refused) => (Err(refused), None),
                };
            }
            Request::Show { coordinate } => self.show(&coordinate),
            Request::Fingerprint { coordinate, .. } => self.fingerprint(&coordinate),
            Request::Edit {
                coordinate,
                description,
                sensitivity,
                revealable,
                ..
            } => self.edit(&coordinate, description, sensitivity, revealable),
            Request::Remove { coordinate, .. } => self.remove(&coordinate),
            Request::Move {
                coordinate,
                to,
                to_project,
                to_global,
                ..
            } => self.relocate(
                &coordinate,
                super::relocate::Destination {
                    to: to.as_deref(),
                    project: to_project.as_deref(),
                    global: to_global,
                },
            ),
            Request::History { coordinate } => self.history(&coordinate),
            Request::Usage { coordinate } => self.usage(&coordinate),
            Request::Rollback {
                coordinate,
                version,
                ..
            } => self.rollback(&coordinate, version),
            Request::Reveal { coordinate, .. } => self.reveal(&coordinate),
            Request::Code {
                coordinate,
                min_validity,
                ..
            } => self.code(&coordinate, min_validity),
            Request::Audit {
                coordinate,
                since,
                action,
            } => self.audit(coordinate, since, action, None),
            Request::AuditStream {
                coordinate,
                since,
                action,
                limit,
            } => self.audit(coordinate, since, action, limit),
            Request::AuditVerify => self.audit_verify(),
            Request::Passwd { old, new } => self.passwd(&old, &new),
            Request::RotateKey { .. } => self.rotate_key(),
            Request::RecoveryKit { .. } => self.recovery_kit(),
            Request::Backup { path } => self.backup(&path),
            Request::Status
            | Request::Init { .. }
            | Request::Unlock { .. }
            | Request::Lock
            | Request::Shutdown
            | Request::Handover
            | Request::SshAgent { .. }
            | Request::Ui { .. }
            | Request::SshScan { .. }
            | Request::Verify { .. }
            | Request::Recover { .. }
            | Request::Restore { .. } => Err(GateError::new(
                ErrorCode::Internal,
                "request routed to the wrong handler",
            )),
        };
        (result, None)
    }
}
