//! Value requests: an agent asks for a value it needs, the human adds it with `kovra add`.
//! The request is recorded in the system vault (sealed like everything else), shown by
//! `kovra requests`, and closed when the record is created. No value ever passes here.

use kovra_core::coord::Coordinate;
use kovra_core::model::{Operation, VaultName};
use kovra_core::policy::Decision;
use kovra_core::store;
use kovra_proto::ErrorCode;
use kovra_proto::{Reply, SecretRequestView};
use serde::{Deserialize, Serialize};

use super::{Gate, Op};
use crate::error::{GateError, parse_coord};

const REQUESTS: &str = "secret:kovra/requests/pending";
/// The oldest open requests are dropped beyond this many.
const MAX_OPEN: usize = 200;
const MAX_DESCRIPTION: usize = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    coordinate: String,
    vault: VaultName,
    description: String,
    requested: u64,
    by: String,
}

fn requests_coord() -> Result<Coordinate, GateError> {
    Coordinate::parse(REQUESTS).map_err(|e| GateError::new(ErrorCode::Internal, e.to_string()))
}

impl Gate<'_> {
    fn open_requests(&mut self) -> Result<Vec<Open>, GateError> {
        Ok(
            super::system::load(self.store, &requests_coord()?, "value requests")?
                .unwrap_or_default(),
        )
    }

    fn save_requests(
        &mut self,
        open: &[Open],
        audit: kovra_core::audit::AuditEntry,
    ) -> Result<(), GateError> {
        super::system::save(
            self.store,
            &requests_coord()?,
            "values requested by agents, until the human adds them",
            None,
            &open,
            audit,
        )
    }

    pub(super) fn secret_request(
        &mut self,
        coordinate: &str,
        description: &str,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        if description.len() > MAX_DESCRIPTION {
            return Err(GateError::new(
                ErrorCode::DescriptionInvalid,
                format!("the description is longer than {MAX_DESCRIPTION} bytes"),
            ));
        }
        let description: String = description
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let located = self.locate(&coord, &[Op::plain(Operation::RequestValue)], true)?;
        self.enforce("request-value", &coord, &located)?;
        let Some(vault) = located.vault.clone() else {
            return Err(GateError::not_found(&coord));
        };
        let exists = located.record.is_some();
        let key = coord.unpinned().to_string();
        let mut open = self.open_requests()?;
        open.retain(|o| !(o.coordinate == key && o.vault == vault));
        open.push(Open {
            coordinate: key.clone(),
            vault: vault.clone(),
            description,
            requested: store::now(),
            by: format!(
                "{}/{}",
                self.info.context.surface.as_str(),
                self.info.origin.as_str()
            ),
        });
        if open.len() > MAX_OPEN {
            let excess = open.len() - MAX_OPEN;
            open.drain(..excess);
        }
        let entry = self.allowed("request-value", &coord, &vault);
        self.save_requests(&open, entry)?;
        let project = match &vault {
            VaultName::Project(p) => format!(" --project {p}"),
            _ => String::new(),
        };
        let verb = if exists { "set" } else { "add" };
        crate::approvals::notify_value_request(&format!("kovra {verb}{project} {key}"));
        Ok(Reply::Done {
            message: format!(
                "request recorded for {key} in the {vault} vault: ask the human to run `kovra {verb}{project} {key}` in their own terminal (`kovra requests` lists open requests)"
            ),
        })
    }

    pub(super) fn secret_requests(&mut self) -> Result<Reply, GateError> {
        let open = self.open_requests()?;
        let mut pending = Vec::new();
        for o in open {
            let Ok(coord) = Coordinate::parse(&o.coordinate) else {
                continue;
            };
            // A scoped session sees only requests it could have made itself.
            if self.decide_one(&o.vault, &coord, None, Op::plain(Operation::RequestValue))
                == Decision::Allow
            {
                pending.push(SecretRequestView {
                    coordinate: o.coordinate,
                    vault: o.vault.label(),
                    description: o.description,
                    requested: o.requested,
                    by: o.by,
                });
            }
        }
        Ok(Reply::SecretRequests { pending })
    }

    /// Close the request for a record that now exists. Best effort: the record is written
    /// already, and an open request left behind is only a stale reminder.
    pub(super) fn close_request(&mut self, coord: &Coordinate, vault: &VaultName) {
        let key = coord.unpinned().to_string();
        let Ok(mut open) = self.open_requests() else {
            return;
        };
        let before = open.len();
        open.retain(|o| !(o.coordinate == key && o.vault == *vault));
        if open.len() != before {
            let mut entry = self.allowed("request-closed", coord, vault);
            entry.detail = Some("the requested record was added".into());
            let _ = self.save_requests(&open, entry);
        }
    }
}
