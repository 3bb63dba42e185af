//! Session grants on the wire: an approval that also lets the same run through for a while
//! (`kovra approve ID --grant 15m`), and their listing (`kovra grants`). What a grant may
//! cover is the core's (`kovra_core::policy::decide_grant`, `grant_stands_in`).

use serde::{Deserialize, Serialize};

use crate::Fact;

/// What an approval asks to grant beside approving the request once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantSpec {
    /// How long the grant lasts (1 to 480).
    pub minutes: u32,
    /// Grant the parked run's agent profile the coordinates the run injects, for any run it
    /// starts, rather than this very run.
    #[serde(default)]
    pub profile: bool,
}

/// One grant, as `kovra grants` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GrantView {
    pub id: String,
    /// `run` or `profile`.
    pub kind: String,
    /// The agent profile whose socket the grant serves (`None`: the human's).
    #[serde(default)]
    pub agent: Option<String>,
    /// What it covers: the command, directory and refs file, or the coordinates.
    pub covers: Vec<Fact>,
    pub created: u64,
    pub expires_in: u64,
    /// The approval that made it.
    pub approval: String,
}
