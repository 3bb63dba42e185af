//! SSH key records: making a key in the daemon (`keygen`), importing one (`add --ssh-key`),
//! reading its public half (`pubkey`, metadata only) and signing with it (`sign`, a use of
//! the private key decided like an injection). The private key is opened only to sign, and
//! only with the token `decide` minted for that signature.

use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, Sensitivity};
use kovra_core::policy::Decision;
use kovra_core::sshkey::{self, KeyMaterial, KeyType, SshKeyError};
use kovra_proto::{ErrorCode, Reply, Secret};

use super::{Gate, Op};
use crate::error::{GateError, parse_coord};

/// The longest namespace `sign` takes (ssh-keygen's are short words: `file`, `git`).
const MAX_NAMESPACE: usize = 256;

/// A key the user gave or the daemon made was refused: what was wrong, never the input.
pub(super) fn key_error(e: SshKeyError) -> GateError {
    let refused = GateError::new(ErrorCode::from(e), e.to_string());
    match e {
        SshKeyError::PublicKeyGiven => refused.hint(
            "give the private key file (e.g. ~/.ssh/id_ed25519), not the .pub beside it",
        ),
        SshKeyError::LegacyFormat => refused.hint(
            "convert it to the OpenSSH format with `ssh-keygen -p -f KEY` (it rewrites the file), then import it again",
        ),
        _ => match ErrorCode::from(e).hint() {
            Some(h) => refused.hint(h),
            None => refused,
        },
    }
}

fn not_a_key(coord: &Coordinate) -> GateError {
    GateError::new(
        ErrorCode::NotSshKey,
        format!("{coord} is not an SSH key record"),
    )
    .hint("make one with `kovra keygen COORD`, or import one with `kovra add COORD --ssh-key`")
}

/// A namespace as ssh-keygen takes it: one printable word.
fn check_namespace(namespace: &str) -> Result<(), GateError> {
    if namespace.is_empty()
        || namespace.len() > MAX_NAMESPACE
        || namespace
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(GateError::new(
            ErrorCode::NamespaceInvalid,
            format!(
                "the namespace must be one word of printable characters, at most {MAX_NAMESPACE} bytes"
            ),
        )
        .hint("name what the signature is for, e.g. --namespace file or --namespace git"));
    }
    Ok(())
}

/// The most host keys one key may be restricted to.
const MAX_HOSTS: usize = 32;

/// Host key fingerprints as `ssh-keygen -l` prints them: `SHA256:` and 43 base64 characters.
fn check_hosts(hosts: &[String]) -> Result<(), GateError> {
    let well_formed = |h: &String| {
        h.strip_prefix("SHA256:").is_some_and(|b64| {
            b64.len() == 43
                && b64
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
        })
    };
    if hosts.len() > MAX_HOSTS || !hosts.iter().all(well_formed) {
        return Err(GateError::new(
            ErrorCode::InvalidArgument,
            format!(
                "a host key is named by its SHA256 fingerprint (`SHA256:` and 43 characters), at most {MAX_HOSTS}"
            ),
        )
        .hint("print a server's with `ssh-keyscan HOST | ssh-keygen -lf -`"));
    }
    Ok(())
}

fn parse_sha512(hex_text: &str) -> Result<[u8; 64], GateError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .ok_or_else(|| {
            GateError::new(
                ErrorCode::InvalidArgument,
                "sign: `sha512` is not the hex of a SHA-512 hash",
            )
        })
}

impl Gate<'_> {
    /// Store a key as a new SSH key record: high unless asked otherwise (a private key signs
    /// as its owner), and at the production floor in any case.
    fn create_key(
        &mut self,
        coord: &Coordinate,
        key: KeyMaterial,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        action: &str,
    ) -> Result<Reply, GateError> {
        self.ssh_key_info = Some(key.info);
        let sensitivity = sensitivity.or(Some(Sensitivity::High));
        self.create(
            coord,
            key.private.expose(),
            sensitivity,
            description,
            false,
            action,
        )
    }

    /// `add --ssh-key`: read the private key (decrypting it with its passphrase) before
    /// anything is decided or written, so bad input leaves the vault as it was.
    pub(super) fn add_ssh_key(
        &mut self,
        coordinate: &str,
        value: Secret,
        key_passphrase: Option<Secret>,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        hosts: Vec<String>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        Self::check_description(&description)?;
        check_hosts(&hosts)?;
        let mut key = sshkey::import(value.expose(), key_passphrase.as_ref().map(Secret::expose))
            .map_err(key_error)?;
        key.info.hosts = hosts;
        self.create_key(&coord, key, sensitivity, description, "add")
    }

    /// `keygen`: the daemon makes the key; it never exists outside the daemon and the vault.
    /// `hosts` restricts where it signs (`SshKeyInfo::hosts`), for the key's life.
    pub(super) fn keygen(
        &mut self,
        coordinate: &str,
        key_type: KeyType,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        hosts: Vec<String>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_description(&description)?;
        check_hosts(&hosts)?;
        // Decided before the (possibly slow) generation: a refused keygen makes no key.
        self.enforce_create(&coord)?;
        let mut key =
            sshkey::generate(key_type, &coord.unpinned().to_string()).map_err(key_error)?;
        key.info.hosts = hosts;
        let info = key.info.clone();
        match self.create_key(&coord, key, sensitivity, description, "keygen")? {
            Reply::Written {
                coordinate,
                vault,
                version,
            } => Ok(Reply::PublicKey {
                coordinate,
                key: info,
                vault: Some(vault),
                version: Some(version),
            }),
            other => Ok(other),
        }
    }

    /// Check that a record may be created at `coord`, without writing anything.
    fn enforce_create(&mut self, coord: &Coordinate) -> Result<(), GateError> {
        let located = self.locate(coord, &[Op::plain(Operation::Create)], true)?;
        if located.record.is_some() && located.decision != Decision::Unaddressable {
            return Err(GateError::from(
                kovra_core::store::StoreError::AlreadyExists(coord.to_string()),
            ));
        }
        self.enforce("keygen", coord, &located)
    }

    /// `pubkey`: the public key from the record's metadata; the private key stays sealed.
    pub(super) fn public_key(&mut self, coordinate: &str) -> Result<Reply, GateError> {
        let (coord, vault, record) = self.metadata_of(coordinate, "pubkey")?;
        let Some(key) = record.meta.ssh_key else {
            return Err(not_a_key(&coord));
        };
        self.store.audit(self.allowed("pubkey", &coord, &vault))?;
        Ok(Reply::PublicKey {
            coordinate: coord.to_string(),
            key,
            vault: None,
            version: None,
        })
    }

    /// `sign`: an SSHSIG signature over data the client hashed. Audited with the key's
    /// fingerprint and the namespace; the data (and its hash) never reach the trail.
    pub(super) fn sign(
        &mut self,
        coordinate: &str,
        namespace: &str,
        sha512: &str,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        check_namespace(namespace)?;
        let digest = parse_sha512(sha512)?;
        let mut located = self.locate(&coord, &[Op::plain(Operation::Sign)], false)?;
        // Whether a record is a key is metadata: said only to whom may read its metadata,
        // and before a proof is asked for a signature that could not be made.
        if located.decision != Decision::Unaddressable
            && let (Some(vault), Some(record)) = (&located.vault, &located.record)
            && record.meta.ssh_key.is_none()
            && self.decide_one(vault, &coord, Some(record), Op::plain(Operation::Metadata))
                == Decision::Allow
        {
            return Err(not_a_key(&coord));
        }
        let allowed = self.admit("sign", &coord, &mut located, Operation::Sign)?;
        if allowed.obligations().notify_medium_use {
            crate::approvals::notify_medium_use("sign", &coord.to_string());
        }
        let vault = allowed.vault().clone();
        let (meta, private) = self.open(&allowed, None)?;
        let Some(info) = meta.ssh_key else {
            return Err(not_a_key(&coord));
        };
        let signature = sshkey::sshsig_sha512(&private, namespace, &digest).map_err(key_error)?;
        drop(private);
        let mut entry = self.allowed("sign", &coord, &vault);
        entry.detail = Some(format!("{} namespace {namespace}", info.fingerprint));
        self.store.audit(entry)?;
        Ok(Reply::Signed {
            coordinate: coord.to_string(),
            namespace: namespace.to_string(),
            fingerprint: info.fingerprint,
            signature: signature.to_string(),
        })
    }
}
