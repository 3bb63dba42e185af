//! The tools' arguments (their input schemas) and the checks that need no daemon: each
//! turns into the daemon request it asks for, or an `invalid-argument` failure.

use kovra_proto::Sensitivity;
use kovra_proto::{Charset, Request};
use rmcp::schemars;
use serde::Deserialize;

use crate::outcome::{Failure, invalid};

/// Longest coordinate accepted (bytes); longer input is refused before reaching the daemon.
const MAX_COORDINATE: usize = 1024;
/// Largest description (bytes).
const MAX_DESCRIPTION: usize = 4096;

pub(crate) fn check_coordinate(coordinate: &str) -> Result<(), Failure> {
    if coordinate.is_empty() {
        return Err(invalid("coordinate is empty"));
    }
    if coordinate.len() > MAX_COORDINATE {
        return Err(invalid(format!(
            "coordinate is longer than {MAX_COORDINATE} bytes"
        )));
    }
    Ok(())
}

fn check_description(description: Option<&String>) -> Result<(), Failure> {
    match description {
        Some(d) if d.len() > MAX_DESCRIPTION => Err(invalid(format!(
            "description is longer than {MAX_DESCRIPTION} bytes"
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Only records in this environment (e.g. `dev`).
    #[serde(default)]
    pub env: Option<String>,
    /// The `next_cursor` of the previous page, unchanged (with the same `env`); omit it for
    /// the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// At most this many records in the page (default 50, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusArgs {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoordinateArgs {
    /// A coordinate such as `secret:dev/stripe/api_key` (or `secret://global/...`).
    pub coordinate: String,
}

impl CoordinateArgs {
    /// The checked coordinate, for a request built around it.
    pub(crate) fn checked(self) -> Result<String, Failure> {
        check_coordinate(&self.coordinate)?;
        Ok(self.coordinate)
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunArgs {
    /// The program and its arguments (no shell is involved).
    pub command: Vec<String>,
    /// Inline `.env.refs` text: `NAME=secret:env/group/key` lines.
    #[serde(default)]
    pub refs: Option<String>,
    /// A `.env.refs` file (relative to `cwd`). Without `refs` and `refs_file`, `cwd/.env.refs`
    /// is used when it exists, otherwise the program runs without secrets.
    #[serde(default)]
    pub refs_file: Option<String>,
    /// Working directory (default: the server's).
    #[serde(default)]
    pub cwd: Option<String>,
    /// The environment substituted for `${ENV}` in coordinates (default: the refs file's
    /// `env =` line, then KOVRA_ENV).
    #[serde(default)]
    pub env: Option<String>,
    /// Seconds before the program is stopped (default 60, at most 600).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Bytes kept from each of stdout and stderr (default 65536).
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CharsetArg {
    Alnum,
    Alpha,
    Digits,
    Hex,
    Base64url,
    Symbols,
}

impl From<CharsetArg> for Charset {
    fn from(c: CharsetArg) -> Self {
        match c {
            CharsetArg::Alnum => Charset::Alnum,
            CharsetArg::Alpha => Charset::Alpha,
            CharsetArg::Digits => Charset::Digits,
            CharsetArg::Hex => Charset::Hex,
            CharsetArg::Base64url => Charset::Base64url,
            CharsetArg::Symbols => Charset::Symbols,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SensitivityArg {
    Low,
    Medium,
    High,
    InjectOnly,
}

impl From<SensitivityArg> for Sensitivity {
    fn from(s: SensitivityArg) -> Self {
        match s {
            SensitivityArg::Low => Sensitivity::Low,
            SensitivityArg::Medium => Sensitivity::Medium,
            SensitivityArg::High => Sensitivity::High,
            SensitivityArg::InjectOnly => Sensitivity::InjectOnly,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// Where to store the new value, e.g. `secret:dev/app/session_key`.
    pub coordinate: String,
    /// Number of characters (default 32, 8 to 1024).
    #[serde(default)]
    pub length: Option<u32>,
    /// Characters to draw from (default alnum).
    #[serde(default)]
    pub charset: Option<CharsetArg>,
    #[serde(default)]
    pub description: Option<String>,
    /// Pin the new value to this broker provider for life (`providers` lists them).
    #[serde(default)]
    pub provider: Option<String>,
}

impl GenerateArgs {
    pub(crate) fn into_request(self) -> Result<Request, Failure> {
        check_coordinate(&self.coordinate)?;
        check_description(self.description.as_ref())?;
        let length = self.length.unwrap_or(32);
        if !(8..=1024).contains(&length) {
            return Err(invalid("length must be between 8 and 1024"));
        }
        Ok(Request::Generate {
            coordinate: self.coordinate,
            length,
            charset: self.charset.map(Charset::from).unwrap_or_default(),
            sensitivity: None,
            description: self.description,
            revealable: false,
            overwrite: false,
            provider: self.provider,
            proof: None,
        })
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSecretArgs {
    /// Where the human should store the value.
    pub coordinate: String,
    /// What the value is for (shown to the human).
    pub description: String,
}

impl RequestSecretArgs {
    pub(crate) fn into_request(self) -> Result<Request, Failure> {
        check_coordinate(&self.coordinate)?;
        check_description(Some(&self.description))?;
        Ok(Request::SecretRequest {
            coordinate: self.coordinate,
            description: self.description,
        })
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditArgs {
    pub coordinate: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Lowering a sensitivity needs human approval.
    #[serde(default)]
    pub sensitivity: Option<SensitivityArg>,
    /// Setting revealable needs human approval.
    #[serde(default)]
    pub revealable: Option<bool>,
}

impl EditArgs {
    pub(crate) fn into_request(self) -> Result<Request, Failure> {
        check_coordinate(&self.coordinate)?;
        check_description(self.description.as_ref())?;
        Ok(Request::Edit {
            coordinate: self.coordinate,
            description: self.description,
            sensitivity: self.sensitivity.map(Sensitivity::from),
            revealable: self.revealable,
            proof: None,
        })
    }
}
