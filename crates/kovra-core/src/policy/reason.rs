//! Why a request was refused or needs a proof: stable codes, messages and hints.

use serde::{Deserialize, Serialize};

/// Why a request was refused or needs a proof. Codes are stable; wording may improve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    OperationOutOfScope,
    InjectOnlyNeverRevealed,
    AgentCannotRevealProtected,
    RevealNeedsPresence,
    InjectNeedsPresence,
    OverwriteProtectedNeedsPresence,
    DeleteProtectedNeedsPresence,
    LoweringNeedsPresence,
    SettingRevealableNeedsPresence,
    ProductionFloorIsHigh,
    AgentCannotFingerprintProtected,
    VaultOperationNeedsFullScope,
    ExecutableNotAllowlisted,
    AllowlistChangeNeedsPresence,
    FingerprintNeedsPresence,
    ApprovalNeedsPresence,
    AgentCannotGetProtectedCode,
    CodeNeedsPresence,
    TwoFactorNeedsPresence,
    AgentCannotEnrolSecondFactor,
    PinnedToOtherProvider,
    NotBoundToProvider,
    BrokerProductionNeedsPresence,
    BindNeedsPresence,
    ProviderChangeNeedsPresence,
    ProductionNeverShared,
    InjectOnlyNeverShared,
    ExportNeedsPresence,
    ImportOverwriteNeedsPresence,
    AcceptSenderNeedsPresence,
    PlaceholderProductionNeedsPresence,
    AgentValueOfPinnedNeedsPresence,
    AgentInjectionIsReveal,
    AgentProfileNeedsPresence,
    AgentRunNotContained,
    MoveLoosensNeedsPresence,
    SignNeedsPresence,
    AgentNeverGetsPrivateKey,
    SshKeyNeverShared,
    SshKeyNeverBrokered,
    ConnectionNotInjected,
    ConnectionNeverBrokered,
    ConnectionNeverShared,
    SignHostNotAllowed,
    SignNeedsBoundHost,
    SshCommandNeedsApproval,
    SshProductionNeedsPresence,
    SshHostChangeNeedsPresence,
    SignConfirmedByRule,
    AgentRulesNeedPresence,
    QueryNeedsConnection,
    QueryProductionNeedsPresence,
    QueryWriteNeedsPresence,
    ProxyNeedsConnection,
    ProxiedProductionNeedsPresence,
    ConfirmNeedsPresence,
    AgentCannotRecover,
    RecoveryKitNeedsPresence,
    RollbackNeedsPresence,
    ProductionNeverExported,
    DotenvExportHumanOnly,
    DotenvExportNeedsPresence,
    /// A canary record was used: refused, and every surface answers as for a missing
    /// record (`not-found`); the daemon audits it as `canary-tripped`.
    CanaryTripped,
    AgentCannotManageCanaries,
    CanaryNeedsPresence,
    /// A session grant covers only a run (an injection): other requests are approved once.
    GrantNeedsRun,
    /// A run that injects a production record is never granted: each one needs its proof.
    GrantNeverProduction,
    /// A grant lasts at most [`MAX_GRANT_MINUTES`](super::MAX_GRANT_MINUTES), and at least one.
    GrantDurationOutOfRange,
    /// A profile grant names the profile a run came through: the human's own runs have none.
    GrantNeedsProfile,
    PasskeyChangeNeedsPresence,
    AgentCannotEnrolPasskey,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::OperationOutOfScope => "operation-out-of-scope",
            Reason::InjectOnlyNeverRevealed => "inject-only",
            Reason::AgentCannotRevealProtected => "agent-reveal-refused",
            Reason::RevealNeedsPresence => "reveal-needs-proof",
            Reason::InjectNeedsPresence => "inject-needs-proof",
            Reason::OverwriteProtectedNeedsPresence => "overwrite-needs-proof",
            Reason::DeleteProtectedNeedsPresence => "delete-needs-proof",
            Reason::LoweringNeedsPresence => "lowering-needs-proof",
            Reason::SettingRevealableNeedsPresence => "revealable-needs-proof",
            Reason::ProductionFloorIsHigh => "production-floor",
            Reason::AgentCannotFingerprintProtected => "agent-fingerprint-refused",
            Reason::VaultOperationNeedsFullScope => "vault-operation-out-of-scope",
            Reason::ExecutableNotAllowlisted => "executable-not-allowlisted",
            Reason::AllowlistChangeNeedsPresence => "allowlist-needs-proof",
            Reason::FingerprintNeedsPresence => "fingerprint-needs-proof",
            Reason::ApprovalNeedsPresence => "approval-needs-proof",
            Reason::AgentCannotGetProtectedCode => "agent-code-refused",
            Reason::CodeNeedsPresence => "code-needs-proof",
            Reason::TwoFactorNeedsPresence => "2fa-needs-proof",
            Reason::AgentCannotEnrolSecondFactor => "agent-2fa-refused",
            Reason::PinnedToOtherProvider => "pinned-to-other-provider",
            Reason::NotBoundToProvider => "not-bound-to-provider",
            Reason::BrokerProductionNeedsPresence => "broker-needs-proof",
            Reason::BindNeedsPresence => "bind-needs-proof",
            Reason::ProviderChangeNeedsPresence => "provider-needs-proof",
            Reason::ProductionNeverShared => "production-never-shared",
            Reason::InjectOnlyNeverShared => "inject-only-never-shared",
            Reason::ExportNeedsPresence => "share-needs-proof",
            Reason::ImportOverwriteNeedsPresence => "receive-force-needs-proof",
            Reason::AcceptSenderNeedsPresence => "accept-sender-needs-proof",
            Reason::PlaceholderProductionNeedsPresence => "placeholder-needs-proof",
            Reason::AgentValueOfPinnedNeedsPresence => "value-needs-proof",
            Reason::AgentInjectionIsReveal => "agent-injection-is-reveal",
            Reason::AgentProfileNeedsPresence => "agent-profile-needs-proof",
            Reason::AgentRunNotContained => "agent-run-not-contained",
            Reason::MoveLoosensNeedsPresence => "move-needs-proof",
            Reason::SignNeedsPresence => "sign-needs-proof",
            Reason::AgentNeverGetsPrivateKey => "agent-private-key-refused",
            Reason::SshKeyNeverShared => "ssh-key-never-shared",
            Reason::SshKeyNeverBrokered => "ssh-key-never-brokered",
            Reason::ConnectionNotInjected => "connection-not-injected",
            Reason::ConnectionNeverBrokered => "connection-never-brokered",
            Reason::ConnectionNeverShared => "connection-never-shared",
            Reason::SignHostNotAllowed => "sign-host-not-allowed",
            Reason::SignNeedsBoundHost => "sign-host-unbound",
            Reason::SshCommandNeedsApproval => "ssh-command-needs-proof",
            Reason::SshProductionNeedsPresence => "ssh-production-needs-proof",
            Reason::SshHostChangeNeedsPresence => "ssh-host-change-needs-proof",
            Reason::SignConfirmedByRule => "sign-confirm-rule",
            Reason::AgentRulesNeedPresence => "agent-rules-needs-proof",
            Reason::QueryNeedsConnection => "query-needs-connection",
            Reason::QueryProductionNeedsPresence => "query-production-needs-proof",
            Reason::QueryWriteNeedsPresence => "query-write-needs-proof",
            Reason::ProxyNeedsConnection => "proxy-needs-connection",
            Reason::ProxiedProductionNeedsPresence => "db-proxy-production-needs-proof",
            Reason::ConfirmNeedsPresence => "confirm-needs-proof",
            Reason::AgentCannotRecover => "agent-recovery-refused",
            Reason::RecoveryKitNeedsPresence => "recovery-kit-needs-proof",
            Reason::RollbackNeedsPresence => "rollback-needs-proof",
            Reason::ProductionNeverExported => "production-never-exported",
            Reason::DotenvExportHumanOnly => "export-human-only",
            Reason::DotenvExportNeedsPresence => "export-needs-proof",
            Reason::CanaryTripped => "canary-tripped",
            Reason::AgentCannotManageCanaries => "agent-canary-refused",
            Reason::CanaryNeedsPresence => "canary-needs-proof",
            Reason::GrantNeedsRun => "grant-needs-run",
            Reason::GrantNeverProduction => "grant-never-production",
            Reason::GrantDurationOutOfRange => "grant-duration",
            Reason::GrantNeedsProfile => "grant-needs-profile",
            Reason::PasskeyChangeNeedsPresence => "passkey-needs-proof",
            Reason::AgentCannotEnrolPasskey => "agent-passkey-refused",
        }
    }

    /// How the user gets past this refusal, where anything can be done at all.
    pub fn hint(self) -> &'static str {
        match self {
            Reason::OperationOutOfScope | Reason::VaultOperationNeedsFullScope => {
                "this session's scope is set by the human (`kovra setup`); use the CLI at your own terminal"
            }
            Reason::ProductionFloorIsHigh => "production records stay high or inject-only",
            Reason::ProductionNeverExported => {
                "export a non-production environment (--env); a production value leaves one at a time with `kovra reveal`"
            }
            Reason::DotenvExportHumanOnly => {
                "run `kovra export` yourself at a terminal; it writes values to your screen"
            }
            Reason::InjectOnlyNeverRevealed => {
                "inject-only values can only be handed to a process kovra starts"
            }
            Reason::AgentCannotRevealProtected
            | Reason::AgentCannotFingerprintProtected
            | Reason::AgentCannotGetProtectedCode => {
                "a human can do this at their own terminal, giving a proof of presence"
            }
            Reason::ExecutableNotAllowlisted => {
                "a human can allow the executable with `kovra allow add PATH` (pinned by SHA-256)"
            }
            Reason::PinnedToOtherProvider => {
                "use the provider the record is pinned to (`kovra show COORD`), or a record pinned to this one"
            }
            Reason::NotBoundToProvider => {
                "a human can pin it with `kovra bind COORD PROVIDER` (with a proof of presence)"
            }
            Reason::ProductionNeverShared => {
                "production values move only by a human's own means, never in a package"
            }
            Reason::InjectOnlyNeverShared
            | Reason::SshKeyNeverShared
            | Reason::ConnectionNeverShared => "leave them out with --group",
            Reason::SshKeyNeverBrokered => {
                "sign with it (`kovra sign COORD --namespace NS`); store API credentials as plain records"
            }
            Reason::ConnectionNotInjected => {
                "add `#url` to the line (`DATABASE_URL=secret:ENV/GROUP/NAME#url`): the program gets a URL of kovra's database proxy, never the password"
            }
            Reason::ConnectionNeverBrokered => {
                "a connection record goes only to its database; store API credentials as plain records"
            }
            Reason::SignHostNotAllowed | Reason::SignNeedsBoundHost => {
                "the key signs only logins to the servers it was made for (`kovra show COORD`) and that the ssh-agent's rules name (`kovra ssh-agent --rules`); use another key for this one"
            }
            Reason::AgentNeverGetsPrivateKey => {
                "sign through kovra (`kovra sign COORD --namespace NS`), or inject the public key (a `.env.refs` line without `#private`)"
            }
            Reason::SshCommandNeedsApproval => {
                "a human approves it (`kovra approve ID`), or allows the command for this host (`kovra ssh-host add NAME ADDRESS --allow 'PATTERN'`)"
            }
            Reason::AgentRunNotContained => {
                "start the agent (or its MCP server) inside `kovra sandbox --agent NAME`; `kovra setup` writes MCP entries that do"
            }
            Reason::AgentInjectionIsReveal => {
                "pin the record to a provider so the program gets a placeholder, allow the program (`kovra allow add PATH`), or have the human opt the group in (`kovra setup --inject-values ENV/GROUP` in the project)"
            }
            Reason::AgentValueOfPinnedNeedsPresence => {
                "drop --values: the program gets a placeholder that works towards the provider's hosts; or a human approves the run"
            }
            Reason::QueryNeedsConnection | Reason::ProxyNeedsConnection => {
                "name a connection record (`kovra add COORD --postgres`)"
            }
            Reason::AgentCannotManageCanaries => "run `kovra canary` yourself at your own terminal",
            Reason::GrantNeedsRun | Reason::GrantNeverProduction | Reason::GrantNeedsProfile => {
                "approve it without --grant: it goes through once"
            }
            Reason::GrantDurationOutOfRange => "give --grant between 1m and 8h (e.g. 15m, 2h)",
            Reason::AgentCannotEnrolPasskey => {
                "enrol a passkey yourself, in `kovra ui` from your own terminal"
            }
            Reason::QueryWriteNeedsPresence => {
                "a human approves it (`kovra approve ID`), or runs it with --write and a proof at their terminal"
            }
            Reason::AgentCannotRecover => {
                "the human runs `kovra recovery-kit`, `recover` and `restore` at their own terminal"
            }
            Reason::RollbackNeedsPresence => {
                "type the backup's passphrase at a terminal (not from a file); after an unattended unlock, stop the daemon first"
            }
            _ => "run the command yourself at a terminal, where kovra can ask for your passphrase",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Reason::OperationOutOfScope => "this session's scope does not grant that operation",
            Reason::InjectOnlyNeverRevealed => "inject-only records are never revealed, to anyone",
            Reason::AgentCannotRevealProtected => {
                "an agent never reveals high, production, inject-only or non-revealable records"
            }
            Reason::RevealNeedsPresence => "revealing this record needs a proof of presence",
            Reason::InjectNeedsPresence => {
                "injecting a high or production record needs a proof of presence"
            }
            Reason::OverwriteProtectedNeedsPresence => {
                "overwriting a high or production record needs a proof of presence"
            }
            Reason::DeleteProtectedNeedsPresence => {
                "deleting a high or production record needs a proof of presence"
            }
            Reason::LoweringNeedsPresence => "lowering sensitivity needs a proof of presence",
            Reason::SettingRevealableNeedsPresence => {
                "making a record revealable needs a proof of presence"
            }
            Reason::ProductionFloorIsHigh => "production records are at least high",
            Reason::AgentCannotFingerprintProtected => {
                "an agent cannot fingerprint high or production records (a fingerprint can confirm a guess)"
            }
            Reason::ExecutableNotAllowlisted => {
                "high and production values go only to executables on the allowlist (`kovra allow add PATH`)"
            }
            Reason::AllowlistChangeNeedsPresence => {
                "adding to the executable allowlist needs a proof of presence"
            }
            Reason::ApprovalNeedsPresence => "approving a parked request needs a proof of presence",
            Reason::AgentCannotGetProtectedCode => {
                "an agent gets TOTP codes only from low-sensitivity, non-production records"
            }
            Reason::CodeNeedsPresence => {
                "a TOTP code of a high or production record needs a proof of presence"
            }
            Reason::AgentCannotEnrolSecondFactor => {
                "the second factor's seed is shown only to a human at their own terminal"
            }
            Reason::TwoFactorNeedsPresence => {
                "setting up a second factor needs a proof of presence"
            }
            Reason::FingerprintNeedsPresence => {
                "fingerprinting a high or production record needs a proof of presence (it can confirm a guess)"
            }
            Reason::VaultOperationNeedsFullScope => {
                "this vault-wide operation needs a session scoped to the whole vault"
            }
            Reason::PinnedToOtherProvider => {
                "the record is pinned to another provider for life; it is never sent elsewhere"
            }
            Reason::NotBoundToProvider => {
                "the record is pinned to no provider, so the broker never sends it anywhere"
            }
            Reason::BrokerProductionNeedsPresence => {
                "a brokered call with a production record needs a proof of presence"
            }
            Reason::BindNeedsPresence => {
                "pinning a record to a provider lets it leave the vault: it needs a proof of presence"
            }
            Reason::ProviderChangeNeedsPresence => {
                "adding a custom provider needs a proof of presence"
            }
            Reason::ProductionNeverShared => "production records are never shared or received",
            Reason::InjectOnlyNeverShared => {
                "inject-only records never leave the vault, not even sealed"
            }
            Reason::ExportNeedsPresence => "sharing exports values: it needs a proof of presence",
            Reason::ImportOverwriteNeedsPresence => {
                "replacing existing records from a package needs a proof of presence"
            }
            Reason::AcceptSenderNeedsPresence => "trusting a new sender needs a proof of presence",
            Reason::PlaceholderProductionNeedsPresence => {
                "a run using a production record through its placeholder needs a proof of presence"
            }
            Reason::AgentInjectionIsReveal => {
                "a program an agent starts can print what it is given: under an agent profile, values it could not reveal go only to allowlisted programs or opted-in groups"
            }
            Reason::AgentRunNotContained => {
                "a run under an agent profile starts only inside a sandbox; this one was asked for from outside any"
            }
            Reason::AgentProfileNeedsPresence => {
                "an agent profile wider than metadata and inject on non-production (or with value opt-ins or open egress) needs a proof of presence"
            }
            Reason::MoveLoosensNeedsPresence => {
                "this move changes the provider the record is pinned to by its name, or puts it in a group the agent profile gets values of: it needs a proof of presence"
            }
            Reason::AgentValueOfPinnedNeedsPresence => {
                "an agent's run gets a placeholder for a record pinned to a provider; the real value needs a proof of presence"
            }
            Reason::SignNeedsPresence => {
                "signing with a high or production SSH key needs a proof of presence"
            }
            Reason::AgentNeverGetsPrivateKey => {
                "an agent never gets an SSH private key; it can have signatures made with it"
            }
            Reason::SshKeyNeverShared => "SSH key records are not shared in packages",
            Reason::SshKeyNeverBrokered => {
                "an SSH key record is never pinned to a provider nor sent in a brokered call"
            }
            Reason::ConnectionNotInjected => {
                "a database connection record is not injected into a process: its URL holds the password"
            }
            Reason::ConnectionNeverShared => {
                "database connection records are not shared in packages (yet)"
            }
            Reason::ConnectionNeverBrokered => {
                "a database connection record is never pinned to a provider nor sent in a brokered call"
            }
            Reason::SignHostNotAllowed => {
                "this SSH key signs only for the servers it is restricted to, and this session is bound to another"
            }
            Reason::SignNeedsBoundHost => {
                "this SSH key is restricted to some servers and signs only for an ssh session bound to one of them"
            }
            Reason::SshCommandNeedsApproval => {
                "an agent runs on this host, as this user, only the commands its patterns allow; anything else needs the human's approval"
            }
            Reason::SshProductionNeedsPresence => {
                "a command on a production host needs a proof of presence"
            }
            Reason::SshHostChangeNeedsPresence => {
                "pinning a host's key (or changing what may run there) needs a proof of presence"
            }
            Reason::SignConfirmedByRule => {
                "the ssh-agent's rules (agent.toml) ask to confirm signatures with this SSH key"
            }
            Reason::AgentRulesNeedPresence => {
                "accepting the ssh-agent's rules (agent.toml) can loosen confirmations: it needs a proof of presence"
            }
            Reason::QueryNeedsConnection => "a query runs only on a database connection record",
            Reason::QueryProductionNeedsPresence => {
                "a query on a production database needs a proof of presence"
            }
            Reason::QueryWriteNeedsPresence => {
                "a statement that may write needs a proof of presence, whoever asks"
            }
            Reason::CanaryTripped => {
                "the record is a canary: any use of it is refused (answered as for a missing record) and reported"
            }
            Reason::AgentCannotManageCanaries => {
                "which records are canaries is for the human alone: an agent neither plants nor lists them"
            }
            Reason::CanaryNeedsPresence => {
                "planting or listing canary records needs a proof of presence"
            }
            Reason::GrantNeedsRun => {
                "a session grant covers a run (values injected into one command), nothing else"
            }
            Reason::GrantNeverProduction => {
                "a run that injects a production record is never granted: each one needs its own proof"
            }
            Reason::GrantDurationOutOfRange => "a session grant lasts from 1 minute to 8 hours",
            Reason::GrantNeedsProfile => {
                "a profile grant covers a run an agent profile asked for; this request came through your own socket"
            }
            Reason::ProxyNeedsConnection => {
                "`#url` asks for a database connection, and this record is not one"
            }
            Reason::ProductionNeverExported => {
                "production records are never exported as a plaintext file"
            }
            Reason::DotenvExportHumanOnly => "only a human exports values, at their own terminal",
            Reason::DotenvExportNeedsPresence => {
                "exporting an environment's values needs a proof of presence"
            }
            Reason::ProxiedProductionNeedsPresence => {
                "a run connecting to a production database needs a proof of presence"
            }
            Reason::ConfirmNeedsPresence => {
                "a script asks you to confirm a step: only your proof of presence answers it"
            }
            Reason::AgentCannotRecover => {
                "recovery kits, recovering and restoring are the human's, at their own terminal"
            }
            Reason::RecoveryKitNeedsPresence => {
                "making a recovery kit (it opens the vault without the passphrase) needs a proof of presence"
            }
            Reason::RollbackNeedsPresence => {
                "restoring a backup older than the vault's last acknowledged state needs a proof of presence"
            }
            Reason::PasskeyChangeNeedsPresence => {
                "enrolling or removing a passkey needs a proof of presence"
            }
            Reason::AgentCannotEnrolPasskey => {
                "a passkey is enrolled only by a human: an agent's own authenticator would prove nothing"
            }
        }
    }
}
