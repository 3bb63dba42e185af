#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of brokered queries: only a connection record is queried; a write is attended
//! whoever asks and whatever the record; production is attended; a read of a connection
//! in scope needs nothing more.

use kovra_core::model::{Operation, Origin, RecordKind};
use kovra_core::policy::{Decision, Presence, Reason, Scope};
use proptest::prelude::*;

mod policy_cases;
use policy_cases::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn only_connections_are_queried(case in arb_existing_case(), write in any::<bool>()) {
        let case = case.with(|c| {
            c.operation = if write { Operation::QueryWrite } else { Operation::Query };
        });
        let d = case.decide(&Scope::full());
        if !case.record.unwrap().kind.is_database() {
            prop_assert_eq!(d, Decision::Deny(Reason::QueryNeedsConnection));
        }
    }

    #[test]
    fn a_write_or_production_is_never_unattended(case in arb_existing_case(), write in any::<bool>(), origin in prop::sample::select(vec![Origin::Human, Origin::Agent])) {
        let case = case.with(|c| {
            c.operation = if write { Operation::QueryWrite } else { Operation::Query };
            c.presence = Presence::None;
            c.origin = origin;
            if let Some(r) = c.record.as_mut() {
                r.kind = RecordKind::Postgres;
            }
        });
        let d = case.decide(&Scope::full());
        if write || case.production {
            prop_assert_ne!(d, Decision::Allow);
        } else if case.addressed_by(&Scope::full()) {
            prop_assert_eq!(d, Decision::Allow);
        }
        let proven = case.with(|c| c.presence = Presence::Proven).decide(&Scope::full());
        if case.addressed_by(&Scope::full()) {
            prop_assert_eq!(proven, Decision::Allow);
        }
    }
}
