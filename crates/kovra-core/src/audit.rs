//! Audit entries and their chain. Each entry is sealed (coordinates are secrets of a kind
//! too) and chained with an HMAC over the previous link, so an edit, a deletion, a reorder
//! or a truncation is detected by `verify`.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, AuthError, Key};

/// One audited event. Never holds a value, a passphrase or a header value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditEntry {
    /// Position in the chain, from 1. Set by the store when appended.
    #[serde(default)]
    pub seq: u64,
    /// Unix seconds.
    pub time: u64,
    /// What happened: `add`, `reveal`, `unlock`, `list`…
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    pub surface: String,
    pub origin: String,
    /// `allow`, `needs-proof`, `deny`, `unaddressable`, `ok`, `error`.
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// Free-form, value-free detail (a version number, a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The agent profile whose socket the request came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// Every action the daemon writes into the trail, with what it records, in one place: the
/// daemon writes only these names (a test there scans its sources), and `kovra audit
/// --action` accepts only these, so a typo is an error rather than an empty answer.
pub const ACTIONS: &[(&str, &str)] = &[
    ("2fa-code", "a second-factor code checked"),
    ("2fa-confirm", "second factor confirmed"),
    ("2fa-disable", "second factor turned off"),
    ("2fa-enable", "second factor enrolment started"),
    ("accept-sender", "a sharing sender trusted"),
    ("add", "a record created"),
    ("agent-create", "an agent profile created"),
    ("agent-env", "an agent profile's environment read"),
    ("agent-expired", "an agent profile expired"),
    ("agent-grant", "a record granted to an agent profile"),
    ("agent-list", "agent profiles listed"),
    ("agent-revoke", "an agent profile revoked"),
    ("agent-seed", "an agent profile's seed made"),
    (
        "agent-socket-refused",
        "a connection to an agent socket refused",
    ),
    ("allow-add", "an executable allowlisted"),
    ("allow-list", "the allowlist read"),
    ("allow-rm", "an executable removed from the allowlist"),
    ("api", "a brokered API call"),
    ("api-result", "a brokered call's upstream status"),
    ("approval-list", "pending approvals listed"),
    ("approval-used", "an approval consumed by its request"),
    ("approve", "a parked request approved"),
    ("audit", "the trail read"),
    ("audit-verify", "the trail's chain verified"),
    ("backup", "a backup of the vault file written"),
    ("bind", "a record pinned to a provider"),
    ("canary-create", "a canary record planted"),
    (
        "canary-forget",
        "a removed canary record dropped from the set",
    ),
    ("canary-list", "the canary records listed"),
    (
        "canary-tripped",
        "a canary record used (refused as missing, reported)",
    ),
    ("code", "a one-time code produced"),
    ("confirm", "a script's step confirmed by the human"),
    (
        "db-connect",
        "a connection through the database proxy decided",
    ),
    (
        "db-disconnect",
        "a connection through the database proxy ended",
    ),
    ("deny", "a parked request refused"),
    ("doctor", "a refs file checked"),
    ("edit", "a record's metadata changed"),
    ("egress-ca-create", "the egress proxy's CA made"),
    ("export", "a non-production environment exported as dotenv"),
    ("fingerprint", "a value's fingerprint produced"),
    ("generate", "a value generated"),
    ("grant-create", "a session grant made by an approval"),
    ("grant-expire", "a session grant ran out"),
    ("grant-revoke", "a session grant revoked"),
    ("grant-use", "a run let through by a session grant"),
    ("history", "a record's versions listed"),
    ("identity", "the sharing identity read"),
    ("identity-create", "the sharing identity made"),
    ("import", "a record written from a dotenv file"),
    ("init", "the vault created"),
    ("inject", "a value handed to a process"),
    ("keygen", "an SSH key made in the vault"),
    ("list", "records listed"),
    ("lock", "the vault locked"),
    ("mv", "a record moved to another vault"),
    ("passkey-enrol", "a passkey enrolled"),
    ("passkey-list", "the enrolled passkeys listed"),
    ("passkey-proof", "a passkey assertion accepted as a proof"),
    ("passkey-remove", "a passkey removed"),
    ("passwd", "the passphrase changed"),
    (
        "placeholder-misuse",
        "a run's placeholder sent to another host",
    ),
    ("project-create", "a project vault created"),
    ("project-list", "project vaults listed"),
    ("proof", "a proof of presence checked"),
    ("provider-add", "a provider added"),
    ("provider-rm", "a provider removed"),
    ("providers", "the provider registry read"),
    (
        "proxy-use",
        "a run's placeholder swapped for its value by the egress proxy",
    ),
    ("pubkey", "an SSH key's public key read"),
    ("query", "a brokered database query decided"),
    (
        "query-result",
        "how a brokered query ended (rows, never their values)",
    ),
    ("receive", "a package received"),
    ("recover", "the passphrase replaced with the recovery kit"),
    (
        "recovery-kit",
        "a recovery kit made (any earlier one stops working)",
    ),
    ("rename", "a record given a new coordinate"),
    ("request-closed", "a value request answered"),
    ("request-value", "a value requested by an agent"),
    ("restore", "the vault file restored from a backup"),
    ("reveal", "a value revealed"),
    ("rm", "a record removed"),
    ("rollback", "a record rolled back"),
    ("rotate-key", "the data keys rotated"),
    ("run", "a process started with values"),
    ("sandbox-open", "a sandbox opened"),
    ("scan", "texts scanned for the vault's values (a hook)"),
    ("scan-bypass", "a hook's scan bypassed on purpose"),
    ("set", "a value replaced"),
    ("share", "a package sealed"),
    ("show", "a record's metadata read"),
    ("sign", "a signature made with an SSH key"),
    ("socket-replaced", "the daemon socket replaced"),
    ("ssh", "a brokered ssh command decided"),
    (
        "ssh-agent-accept",
        "the ssh-agent's rules (agent.toml) accepted as the standing state",
    ),
    (
        "ssh-agent-list",
        "SSH keys listed through the ssh-agent socket",
    ),
    (
        "ssh-agent-refused",
        "an ssh-agent request refused before policy (adding a key, a forged bind)",
    ),
    (
        "ssh-agent-sign",
        "a signature asked of the ssh-agent socket",
    ),
    ("ssh-agent-start", "the ssh-agent socket started"),
    ("ssh-agent-stop", "the ssh-agent socket stopped"),
    (
        "ssh-host-add",
        "an ssh host's key pinned and its rules written",
    ),
    ("ssh-host-list", "the ssh hosts read"),
    ("ssh-host-rm", "an ssh host forgotten"),
    ("ssh-result", "how a brokered ssh command ended"),
    ("ssh-scan", "a host's key read, without logging in"),
    ("system-vault-create", "the system vault created"),
    ("ui-link", "a login link to the web UI made (`kovra ui`)"),
    ("ui-login", "a web UI login link used, or refused"),
    ("unlock", "the vault unlocked"),
    (
        "usage",
        "where a record was used read (the web UI's record detail)",
    ),
];

/// Whether `action` is one the daemon writes ([`ACTIONS`]).
pub fn is_action(action: &str) -> bool {
    ACTIONS.iter().any(|(a, _)| *a == action)
}

/// The chain's genesis link.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// The keys an audit chain needs, both derived from the root key.
pub struct AuditKeys {
    pub seal: Key,
    pub mac: Key,
    /// `mac`, keyed once: a run links one entry per value it injects.
    linker: crypto::KeyedMac,
}

impl AuditKeys {
    pub fn from_root(root: &Key) -> Self {
        let mac = crypto::subkey(root, "audit-mac");
        AuditKeys {
            seal: crypto::subkey(root, "audit-seal"),
            linker: crypto::KeyedMac::new(&mac),
            mac,
        }
    }

    pub fn seal_entry(&self, entry: &AuditEntry) -> Vec<u8> {
        self.seal_entry_with(entry, &crypto::random_array())
    }

    /// [`Self::seal_entry`] with a nonce the caller drew from the OS generator for this entry
    /// alone: a run's entries take theirs in one draw (`UnlockedStore::audit_all`).
    pub(crate) fn seal_entry_with(
        &self,
        entry: &AuditEntry,
        nonce: &[u8; crypto::NONCE_LEN],
    ) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        let json = serde_json::to_vec(entry).unwrap_or_default();
        crypto::seal_with_nonce(&self.seal, nonce, &entry.seq.to_be_bytes(), &json)
    }

    pub fn open_entry(&self, seq: u64, sealed: &[u8]) -> Result<AuditEntry, AuthError> {
        let json = crypto::open(&self.seal, &seq.to_be_bytes(), sealed)?;
        let entry: AuditEntry = serde_json::from_slice(&json).map_err(|_| AuthError)?;
        if entry.seq != seq {
            return Err(AuthError);
        }
        Ok(entry)
    }

    /// The link after `prev` for the sealed entry at `seq`.
    pub fn link(&self, prev: &[u8; 32], seq: u64, sealed: &[u8]) -> [u8; 32] {
        self.linker.mac(&[prev, &seq.to_be_bytes(), sealed])
    }

    /// A checker for walking the whole chain in one pass: keyed once, no allocation per entry.
    pub fn chain_check(&self) -> ChainCheck {
        ChainCheck {
            mac: self.linker.clone(),
            open: crypto::OpenCheck::new(&self.seal),
        }
    }
}

/// [`AuditKeys`] prepared for verifying a chain entry by entry (`verify_audit`).
pub struct ChainCheck {
    mac: crypto::KeyedMac,
    open: crypto::OpenCheck,
}

impl ChainCheck {
    /// The same link as [`AuditKeys::link`].
    pub fn link(&self, prev: &[u8; 32], seq: u64, sealed: &[u8]) -> [u8; 32] {
        self.mac.mac(&[prev, &seq.to_be_bytes(), sealed])
    }

    /// Whether the sealed entry at `seq` opens under the audit key. Its JSON is not parsed:
    /// the link, keyed with a key only the daemon holds, already authenticates these exact
    /// bytes, so they are the entry the daemon sealed.
    pub fn opens(&mut self, seq: u64, sealed: &[u8]) -> bool {
        self.open.opens(&seq.to_be_bytes(), sealed)
    }
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "problem")]
pub enum ChainBreak {
    /// A sequence number is missing or out of order (a deleted or reordered row).
    Gap { expected: u64, found: u64 },
    /// A row's link does not follow from the previous one (an edited row).
    BadLink { seq: u64 },
    /// A row does not open under the audit key.
    Unreadable { seq: u64 },
    /// The chain ends before the head the vault recorded (truncated).
    Truncated { expected_last: u64, found_last: u64 },
    /// The last link differs from the recorded head.
    HeadMismatch,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Gap { expected, found } => {
                write!(f, "entry {expected} is missing (next found: {found})")
            }
            ChainBreak::BadLink { seq } => write!(
                f,
                "entry {seq} was altered (its chain link does not verify)"
            ),
            ChainBreak::Unreadable { seq } => write!(f, "entry {seq} does not authenticate"),
            ChainBreak::Truncated {
                expected_last,
                found_last,
            } => {
                write!(
                    f,
                    "the trail ends at entry {found_last} but {expected_last} were written"
                )
            }
            ChainBreak::HeadMismatch => {
                f.write_str("the last entry does not match the recorded chain head")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_check_agrees_with_the_keys() {
        let keys = AuditKeys::from_root(&crypto::random_key());
        let mut check = keys.chain_check();
        let entry = AuditEntry {
            seq: 3,
            action: "list".into(),
            ..Default::default()
        };
        let sealed = keys.seal_entry(&entry);
        let prev = [7u8; 32];
        assert_eq!(check.link(&prev, 3, &sealed), keys.link(&prev, 3, &sealed));
        assert!(check.opens(3, &sealed));
        assert!(!check.opens(4, &sealed));
        let mut bent = sealed.clone();
        bent[30] ^= 1;
        assert!(!check.opens(3, &bent));
        assert!(!check.opens(3, &sealed[..20]));
    }

    #[test]
    fn the_action_catalogue_is_sorted_and_unique() {
        let names: Vec<&str> = ACTIONS.iter().map(|(a, _)| *a).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert!(is_action("reveal") && !is_action("bogus"));
    }
}
