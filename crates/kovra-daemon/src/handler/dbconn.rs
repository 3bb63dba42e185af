//! Database connection records: `add COORD --postgres` (and `set` on one, in `records`).
//! The connection string is read here, before anything is decided or written, so bad input
//! leaves the vault as it was; the record's value is the normalized URL with its password,
//! and its metadata everything else (`kovra_core::dbconn`).

use kovra_core::dbconn::{self, DbConnError, DbEngine};
use kovra_core::model::Sensitivity;
use kovra_proto::{ErrorCode, Reply, Secret};

use super::Gate;
use crate::error::{GateError, parse_coord};

/// A connection string was refused: which field, never the input.
pub(super) fn connection_error(e: DbConnError) -> GateError {
    let refused = GateError::new(ErrorCode::from(e), e.to_string());
    match ErrorCode::from(e).hint() {
        Some(h) => refused.hint(h),
        None => refused,
    }
}

impl Gate<'_> {
    /// `add --postgres`: high unless asked otherwise (the value holds a password), and at
    /// the production floor in any case.
    pub(super) fn add_connection(
        &mut self,
        coordinate: &str,
        value: Secret,
        engine: DbEngine,
        sensitivity: Option<Sensitivity>,
        description: Option<String>,
        revealable: bool,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        Self::check_value(&coord, &value)?;
        Self::check_description(&description)?;
        let conn = dbconn::parse(engine, value.expose()).map_err(connection_error)?;
        drop(value);
        self.db_conn_info = Some(conn.info);
        self.create(
            &coord,
            conn.value.expose(),
            sensitivity.or(Some(Sensitivity::High)),
            description,
            revealable,
            "add",
        )
    }
}
