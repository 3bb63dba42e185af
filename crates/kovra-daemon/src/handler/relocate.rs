//! `kovra mv` and `kovra rename`: a record, with its whole history, to another vault or
//! coordinate.
//!
//! Policy sees a move as what it does: the record leaves its place (decided as a delete of
//! it, so a high or production record needs the proof its deletion would) and a new one
//! appears at the destination (decided as a create there, so the destination must be in
//! scope). Each version is raised to the destination's production floor. The store does
//! the move in one transaction (`kovra_core::store::relocate`).

use kovra_core::coord::Pin;
use kovra_core::model::{Metadata, Operation, Sensitivity, VaultName};
use kovra_core::policy::{self, Decision, NameFacts, production_floor};
use kovra_core::store::{Place, StoreError};
use kovra_proto::{ErrorCode, Reply};

use super::{Gate, Op};
use crate::error::{GateError, parse_coord};

/// Where a move goes, as the request names it.
pub(super) struct Destination<'a> {
    pub(super) to: Option<&'a str>,
    pub(super) project: Option<&'a str>,
    pub(super) global: bool,
}

impl Gate<'_> {
    pub(super) fn relocate(
        &mut self,
        coordinate: &str,
        dest: Destination<'_>,
    ) -> Result<Reply, GateError> {
        let coord = parse_coord(coordinate)?;
        let action = if dest.project.is_none() && !dest.global {
            "rename"
        } else {
            "mv"
        };
        let located = self.locate(&coord, &[Op::plain(Operation::Delete)], false)?;
        let (Some(from_vault), Some(record)) = (located.vault.clone(), located.record.clone())
        else {
            self.enforce(action, &coord, &located)?;
            return Err(GateError::not_found(&coord));
        };
        let to_vault = match (dest.global, dest.project) {
            (true, Some(_)) => {
                return Err(GateError::new(
                    ErrorCode::InvalidArgument,
                    "give one destination: a project or the global vault",
                ));
            }
            (true, None) => VaultName::Global,
            (false, Some(p)) => {
                crate::error::check_project(p)?;
                VaultName::Project(p.to_string())
            }
            (false, None) => from_vault.clone(),
        };
        let to_coord = match dest.to {
            Some(t) => parse_coord(t)?,
            None => coord.unpinned(),
        };
        if to_coord.pin() == Pin::Global && to_vault != VaultName::Global {
            return Err(GateError::new(
                ErrorCode::InvalidArgument,
                format!("{to_coord} names the global vault, but the record stays in the {to_vault} vault"),
            )
            .hint("move it with `kovra mv COORD --to-global`, then rename it there"));
        }
        let to_coord = to_coord.unpinned();
        if to_vault == from_vault && to_coord == coord.unpinned() {
            return Err(GateError::new(
                ErrorCode::NothingToChange,
                format!("{coord} is already in the {from_vault} vault"),
            )
            .hint("name another project (--to-project NAME) or the global vault (--to-global)"));
        }
        // The destination: a new record there, decided before anything about it is said.
        let mut target =
            self.decide_all(&to_vault, &to_coord, None, &[Op::plain(Operation::Create)]);
        // Out of scope (a vault or environment the scope does not address) is decided by
        // policy, like every other request, and answered as absent.
        if target.decision == Decision::Unaddressable {
            return Err(GateError::new(
                ErrorCode::NotFound,
                format!("{to_coord} in the {to_vault} vault is not in this scope"),
            ));
        }
        if let VaultName::Project(p) = &to_vault
            && !self.store.vault_exists(&to_vault)?
        {
            return Err(GateError::from(StoreError::UnknownProject(p.clone())));
        }
        if self.store.find(&to_vault, &to_coord)?.is_some() {
            return Err(GateError::new(
                ErrorCode::AlreadyExists,
                format!("{to_coord} already exists in the {to_vault} vault; nothing was moved"),
            )
            .hint("pick another coordinate (`kovra rename`), or remove the one there first (`kovra rm`)"));
        }
        // What the name alone decides (a provider's claim, a profile's value opt-in) is
        // neither a delete's nor a create's business: policy weighs the change.
        self.registry()?;
        let moved = Metadata {
            coordinate: to_coord.clone(),
            ..record.meta.clone()
        };
        let (from_pin, to_pin) = (
            self.pinned_provider(&record.meta),
            self.pinned_provider(&moved),
        );
        let opt_in = |c| {
            self.info
                .agent
                .as_ref()
                .is_some_and(|p| p.injects_value_of(c))
        };
        let names = policy::relocation(
            NameFacts {
                pinned: from_pin.as_deref(),
                value_opt_in: opt_in(&coord),
            },
            NameFacts {
                pinned: to_pin.as_deref(),
                value_opt_in: opt_in(&to_coord),
            },
            self.presence_for(kovra_core::policy::ProofNeed::default()),
        );
        target.decision = target.decision.and(names);
        self.enforce(action, &coord, &located)?;
        self.enforce(action, &to_coord, &target)?;
        let floor = production_floor(Sensitivity::Low, self.production(to_coord.env()));
        let mut entry = self.allowed(action, &coord, &from_vault);
        entry.detail = Some(format!("to {to_coord} ({})", to_vault.label()));
        let version = self.store.relocate(
            Place {
                vault: &from_vault,
                coordinate: &record.meta.coordinate,
            },
            Place {
                vault: &to_vault,
                coordinate: &to_coord,
            },
            floor,
            entry,
        )?;
        // An approval binds a request, which names coordinates, not records: after a move
        // a coordinate may name a record the human never saw (or a line's fallback may now
        // find one), so every parked approval, given or pending, is void.
        self.approvals.clear();
        self.close_request(&to_coord, &to_vault);
        Ok(Reply::Written {
            coordinate: to_coord.to_string(),
            vault: to_vault.label(),
            version,
        })
    }
}
