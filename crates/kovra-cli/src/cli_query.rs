//! The command line of brokered queries: `kovra query COORD -- SQL`.

use clap::Args;

pub const QUERY_EXAMPLES: &str = "\
Examples:
  kovra query secret:dev/app/db -- 'select id, email from users order by id limit 5'
  kovra query secret:dev/app/db --param 42 -- 'select * from orders where id = $1'
  kovra query secret:dev/app/db --csv -- 'select * from plans' > plans.csv
  kovra query secret:dev/app/db --write -- 'update plans set active = false where id = 7'

The daemon connects with the connection record (its password never leaves it), runs the one
statement in a READ ONLY transaction unless --write (which needs your proof of presence), and
prints at most --max-rows rows, scrubbed of the vault's values.";

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The connection record, e.g. `secret:dev/app/db` (`kovra add COORD --postgres`).
    pub coordinate: String,
    /// A value for `$1`, `$2`… in order (repeatable): bound, never pasted into the SQL.
    #[arg(long = "param", value_name = "VALUE")]
    pub params: Vec<String>,
    /// Allow the statement to write (a proof of presence; an agent's waits for approval).
    #[arg(long)]
    pub write: bool,
    /// Rows to return at most (default 1000, at most 10000).
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,
    /// The statement's timeout in seconds (default 30, at most 300).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Print CSV (a header row, then the rows) instead of a table.
    #[arg(long)]
    pub csv: bool,
    /// The statement, after `--` (its words are joined with spaces).
    #[arg(last = true, required = true, value_name = "SQL")]
    pub sql: Vec<String>,
}
