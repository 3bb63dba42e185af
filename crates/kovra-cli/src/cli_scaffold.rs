//! The command line of `kovra scaffold [PATH]`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ScaffoldArgs {
    /// The project directory to read (default: the current directory).
    pub path: Option<PathBuf>,
    /// The environment of the `env =` line, and where existing records are looked for first.
    #[arg(long = "env", value_name = "ENV", default_value = "dev")]
    pub env_name: String,
    /// The group of new secrets no provider claims (default: the directory's name, or `app`).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Write PATH/.env.refs instead of printing the proposal (never over an existing file).
    #[arg(long)]
    pub write: bool,
    /// With --write: replace an existing .env.refs.
    #[arg(long, requires = "write")]
    pub force: bool,
}
