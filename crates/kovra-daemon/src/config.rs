//! `config.toml` (`$XDG_CONFIG_HOME/kovra/`, or `$KOVRA_HOME/` when that is set). The file
//! is writable by the agent, so it may only tighten: it can add production environments
//! (never remove the built-in ones) and shorten the idle timeout (never lengthen it past the
//! default).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kovra_proto::paths::Paths;

use kovra_core::model::DEFAULT_PRODUCTION_ENVS;
use serde::Deserialize;

pub const DEFAULT_IDLE_SECS: u64 = 15 * 60;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    idle_timeout_secs: Option<u64>,
    #[serde(default)]
    production_environments: Vec<String>,
    /// Which answers count as a proof of presence: `passphrase`, `totp` (a code, once two-factor
    /// is on), `passkey` (once one is enrolled). The file can narrow the default (all), never
    /// widen it.
    proof_kinds: Option<Vec<String>>,
    /// For which requests only a passkey counts, once one is enrolled: `high` (a
    /// high-sensitivity record), `production` (a production environment). Narrow-only: it
    /// can only take kinds away (`kovra_core::policy::accepted_proofs`).
    #[serde(default)]
    passkey_for: Vec<String>,
    /// Who gets placeholders for records pinned to a provider: `agents` (the default) or
    /// `always` (a human's runs too, unless `--values`). The file can only tighten: there
    /// is no setting that gives agents values.
    placeholders: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub idle_timeout_secs: u64,
    pub production_envs: BTreeSet<String>,
    pub proof_by_passphrase: bool,
    pub proof_by_code: bool,
    pub proof_by_passkey: bool,
    /// `passkey_for`: what about a request makes a passkey its only proof.
    pub passkey_for: kovra_core::policy::ProofNeed,
    pub placeholders_by_default: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

/// Move a `config.toml` an earlier version kept in the data directory to the config
/// directory, once: only when the new one does not exist. A rename moves a symlink as the
/// link (a dotfile manager's link keeps working); across file systems a regular file is
/// copied (0600) and the old one removed. Returns the new path when something moved. A
/// failure is an error, not a skip: a config dropped on the way would silently undo the
/// tightening it holds.
pub fn migrate_legacy(paths: &Paths) -> Result<Option<PathBuf>, ConfigError> {
    let (old, new) = (paths.legacy_config_file(), paths.config_file());
    if old == new || std::fs::symlink_metadata(&new).is_ok() {
        return Ok(None);
    }
    let Ok(meta) = std::fs::symlink_metadata(&old) else {
        return Ok(None);
    };
    let failed = |e: &dyn std::fmt::Display| ConfigError {
        path: old.display().to_string(),
        message: format!(
            "cannot move it to {} ({e}); move it there by hand",
            new.display()
        ),
    };
    kovra_core::store::ensure_private_dir(&paths.config_dir).map_err(|e| failed(&e))?;
    if std::fs::rename(&old, &new).is_ok() {
        return Ok(Some(new));
    }
    if !meta.is_file() {
        return Err(failed(&"a link cannot be copied across file systems"));
    }
    let text = std::fs::read(&old).map_err(|e| failed(&e))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&new)
            .map_err(|e| failed(&e))?;
        f.write_all(&text).map_err(|e| failed(&e))?;
    }
    std::fs::remove_file(&old).map_err(|e| failed(&e))?;
    Ok(Some(new))
}

impl Config {
    /// Read the config file if present; `idle_override` (from `kovra daemon --idle-timeout`)
    /// wins over the file.
    pub fn load(path: &Path, idle_override: Option<u64>) -> Result<Self, ConfigError> {
        let file: File = match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError {
                path: path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => {
                return Err(ConfigError {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        let mut production_envs: BTreeSet<String> = DEFAULT_PRODUCTION_ENVS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for env in file.production_environments {
            kovra_core::coord::validate_name(&env).map_err(|e| ConfigError {
                path: path.display().to_string(),
                message: format!("production_environments: `{env}`: {e}"),
            })?;
            production_envs.insert(env);
        }
        let idle = idle_override
            .or(file.idle_timeout_secs)
            .unwrap_or(DEFAULT_IDLE_SECS)
            .clamp(1, DEFAULT_IDLE_SECS);
        let (proof_by_passphrase, proof_by_code, proof_by_passkey) = match &file.proof_kinds {
            None => (true, true, true),
            Some(kinds) => {
                for k in kinds {
                    if !["passphrase", "totp", "passkey"].contains(&k.as_str()) {
                        return Err(ConfigError {
                            path: path.display().to_string(),
                            message: format!(
                                "proof_kinds: unknown kind `{k}`; use \"passphrase\", \"totp\" and/or \"passkey\""
                            ),
                        });
                    }
                }
                let has = |kind: &str| kinds.iter().any(|k| k == kind);
                (has("passphrase"), has("totp"), has("passkey"))
            }
        };
        let mut passkey_for = kovra_core::policy::ProofNeed::default();
        for what in &file.passkey_for {
            match what.as_str() {
                "high" => passkey_for.high = true,
                "production" => passkey_for.production = true,
                other => {
                    return Err(ConfigError {
                        path: path.display().to_string(),
                        message: format!(
                            "passkey_for: unknown value `{other}`; use \"high\" and/or \"production\""
                        ),
                    });
                }
            }
        }
        if !file.passkey_for.is_empty() && !proof_by_passkey {
            return Err(ConfigError {
                path: path.display().to_string(),
                message: "passkey_for needs \"passkey\" in proof_kinds".into(),
            });
        }
        let placeholders_by_default = match file.placeholders.as_deref() {
            None | Some("agents") => false,
            Some("always") => true,
            Some(other) => {
                return Err(ConfigError {
                    path: path.display().to_string(),
                    message: format!(
                        "placeholders: unknown value `{other}`; use \"agents\" or \"always\""
                    ),
                });
            }
        };
        Ok(Config {
            placeholders_by_default,
            idle_timeout_secs: idle,
            production_envs,
            proof_by_passphrase,
            proof_by_code,
            proof_by_passkey,
            passkey_for,
        })
    }

    /// The user's narrowing of proofs, as the core's [`accepted_proofs`] takes it.
    ///
    /// [`accepted_proofs`]: kovra_core::policy::accepted_proofs
    pub fn proof_rules(&self) -> kovra_core::policy::ProofRules {
        kovra_core::policy::ProofRules {
            kinds: kovra_core::policy::ProofKinds {
                passphrase: self.proof_by_passphrase,
                code: self.proof_by_code,
                passkey: self.proof_by_passkey,
            },
            passkey_for: self.passkey_for,
        }
    }

    pub fn is_production(&self, env: &str) -> bool {
        self.production_envs.contains(env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("kovra-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{:x}.toml",
            text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()
        ));
        std::fs::write(&path, text).unwrap();
        let loaded = Config::load(&path, None);
        let _ = std::fs::remove_file(&path);
        loaded
    }

    #[test]
    fn passkeys_narrow_and_never_widen() {
        let c = load("").unwrap();
        assert!(c.proof_by_passkey && c.passkey_for == Default::default());
        let c = load("proof_kinds = [\"passkey\"]\n").unwrap();
        assert!(c.proof_by_passkey && !c.proof_by_passphrase && !c.proof_by_code);
        let c = load("passkey_for = [\"high\", \"production\"]\n").unwrap();
        assert!(c.passkey_for.high && c.passkey_for.production);
        // A rule for a kind the file refused, or an unknown value, is an error, not a no-op.
        assert!(load("proof_kinds = [\"totp\"]\npasskey_for = [\"high\"]\n").is_err());
        assert!(load("passkey_for = [\"low\"]\n").is_err());
    }
}
