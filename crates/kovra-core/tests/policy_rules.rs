#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The laws of the rules around [`decide`]: birth sensitivity, fallbacks, combining
//! decisions, enforcing the lines of a run, parking for approval, received metadata, the
//! medium-use obligation, and the [`Allowed`] token. Each property quotes its law.

use kovra_core::audit::AuditEntry;
use kovra_core::coord::Coordinate;
use kovra_core::crypto::KdfParams;
use kovra_core::model::{Metadata, Operation, Origin, RecordKind, Sensitivity, Surface, VaultName};
use kovra_core::policy::{
    Allowed, Decision, Delivery, NameFacts, Obligations, Offered, Presence, Reason, RecordFacts,
    Request, Scope, authorize, birth_sensitivity, decide, fallback_refused, imported_metadata,
    line_enforced, parks_for_approval, production_floor, relocation,
};
use kovra_core::store::{LockedStore, StoreError};
use proptest::prelude::*;

mod common;
use common::strictness;

const CASES: u32 = 2048;

fn arb_sensitivity() -> impl Strategy<Value = Sensitivity> {
    prop::sample::select(Sensitivity::ALL.to_vec())
}

fn arb_reason() -> impl Strategy<Value = Reason> {
    prop::sample::select(vec![
        Reason::OperationOutOfScope,
        Reason::RevealNeedsPresence,
        Reason::InjectNeedsPresence,
        Reason::ExecutableNotAllowlisted,
        Reason::ProductionFloorIsHigh,
    ])
}

fn arb_decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        Just(Decision::Allow),
        arb_reason().prop_map(Decision::NeedsProof),
        arb_reason().prop_map(Decision::Deny),
        Just(Decision::Unaddressable),
    ]
}

fn metadata(coord: &str, sensitivity: Sensitivity, revealable: bool, created: u64) -> Metadata {
    Metadata {
        coordinate: Coordinate::parse(coord).unwrap(),
        sensitivity,
        revealable,
        description: "old".into(),
        created,
        updated: created,
        version: 3,
        totp: None,
        provider: Some("openai".into()),
        provider_host: None,
        ssh_key: None,
        database: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: production records are born at least high; elsewhere a record is born with what
    /// was asked (medium when nothing was), and birth never lowers what was asked.
    #[test]
    fn production_records_are_born_at_least_high(
        requested in prop::option::of(arb_sensitivity()),
        production in any::<bool>(),
    ) {
        let born = birth_sensitivity(requested, production);
        let asked = requested.unwrap_or(Sensitivity::Medium);
        prop_assert!(born >= asked);
        if production {
            prop_assert!(born >= Sensitivity::High);
        } else {
            prop_assert_eq!(born, asked);
        }
        prop_assert_eq!(birth_sensitivity(Some(born), production), born);
        prop_assert_eq!(production_floor(asked, production), born);
    }

    /// Law: the birth sensitivity is one `decide` accepts: it never hits the production floor.
    #[test]
    fn a_born_sensitivity_passes_the_production_floor(
        requested in prop::option::of(arb_sensitivity()),
        production in any::<bool>(),
        current in arb_sensitivity(),
    ) {
        let born = birth_sensitivity(requested, production);
        let vault = VaultName::Global;
        let req = Request {
            operation: Operation::ChangeSensitivity,
            vault: &vault,
            env: "env",
            production,
            record: Some(RecordFacts { sensitivity: current, revealable: false, kind: RecordKind::Secret }),
            new_sensitivity: Some(born),
            new_revealable: None,
            surface: Surface::Cli,
            origin: Origin::Human,
            presence: Presence::Proven,
            allowlisted: false,
            pin: None,
            delivery: Delivery::Value,
            profile: None,
            destination: None,
            remote: None,
            canary: false,
        };
        prop_assert_ne!(decide(&req, &Scope::full()), Decision::Deny(Reason::ProductionFloorIsHigh));
    }

    /// Law: no fallback on production coordinates, and only there is a fallback refused.
    #[test]
    fn no_fallback_on_production(has_fallback in any::<bool>(), production in any::<bool>()) {
        prop_assert_eq!(fallback_refused(has_fallback, production), has_fallback && production);
    }

    /// Law: `all` is the strictest decision (the first of equals), `Allow` for none.
    #[test]
    fn all_is_the_strictest(ds in prop::collection::vec(arb_decision(), 0..8)) {
        let all = Decision::all(ds.iter().copied());
        let max = ds.iter().map(|d| strictness(*d)).max().unwrap_or(0);
        prop_assert_eq!(strictness(all), max);
        if let Some(first) = ds.iter().find(|d| strictness(**d) == max) {
            prop_assert_eq!(all, *first);
        } else {
            prop_assert_eq!(all, Decision::Allow);
        }
    }

    /// Law: the worst decision of a run is its first refusal, else its first needed proof,
    /// else `Allow`; an unaddressable line never makes it (the line may fall back).
    #[test]
    fn worst_is_the_first_refusal_then_the_first_proof(
        ds in prop::collection::vec(arb_decision(), 0..8),
    ) {
        let worst = Decision::worst(ds.iter().copied());
        let deny = ds.iter().find(|d| matches!(d, Decision::Deny(_)));
        let proof = ds.iter().find(|d| matches!(d, Decision::NeedsProof(_)));
        prop_assert_eq!(worst, *deny.or(proof).unwrap_or(&Decision::Allow));
        prop_assert_ne!(worst, Decision::Unaddressable);
    }

    /// Law: a run enforces every refused line and every missing line without a fallback; it
    /// asks for a proof only when no line is refused; an allowed line is never enforced.
    #[test]
    fn lines_are_enforced_refusals_first(
        lines in prop::collection::vec((arb_decision(), any::<bool>()), 1..8),
    ) {
        let worst = Decision::worst(lines.iter().map(|(d, _)| *d));
        let refused = lines.iter().any(|(d, _)| matches!(d, Decision::Deny(_)));
        for (line, fallback) in &lines {
            let enforced = line_enforced(*line, worst, *fallback);
            match line {
                Decision::Allow => prop_assert!(!enforced),
                Decision::Deny(_) => prop_assert!(enforced),
                Decision::Unaddressable => prop_assert_eq!(enforced, !fallback),
                Decision::NeedsProof(_) => prop_assert_eq!(enforced, !refused),
            }
        }
    }

    /// Law: only an agent's request that needs a proof is parked, and never an approval.
    #[test]
    fn only_an_agents_proof_is_parked(
        d in arb_decision(),
        agent in any::<bool>(),
        approving in any::<bool>(),
    ) {
        let origin = if agent { Origin::Agent } else { Origin::Human };
        prop_assert_eq!(
            parks_for_approval(d, origin, approving),
            matches!(d, Decision::NeedsProof(_)) && agent && !approving
        );
    }

    /// Law: a package never weakens what the vault holds: the received sensitivity is at
    /// least the offered one, the replaced record's and the production floor; a received
    /// record is revealable only if offered so, not inject-only, and replacing a revealable
    /// record (or none); no provider pin is imported; the description is capped and a
    /// replaced record keeps its creation time.
    #[test]
    fn received_metadata_never_weakens(
        offered_s in arb_sensitivity(),
        offered_r in any::<bool>(),
        existing in prop::option::of((arb_sensitivity(), any::<bool>())),
        production in any::<bool>(),
        long in 0usize..1100,
    ) {
        let description = "é".repeat(long);
        let old = existing.map(|(s, r)| metadata("secret:dev/a/b", s, r, 5));
        let offered = Offered {
            sensitivity: offered_s,
            revealable: offered_r,
            description: &description,
            totp: None,
        };
        let coord = Coordinate::parse("secret:dev/a/b").unwrap();
        let m = imported_metadata(coord.clone(), offered, old.as_ref(), production, 100);
        prop_assert!(m.sensitivity >= offered_s);
        prop_assert!(old.as_ref().is_none_or(|o| m.sensitivity >= o.sensitivity));
        prop_assert!(!production || m.sensitivity >= Sensitivity::High);
        if m.revealable {
            prop_assert!(offered_r && m.sensitivity != Sensitivity::InjectOnly);
            prop_assert!(old.as_ref().is_none_or(|o| o.revealable));
        }
        prop_assert_eq!(m.provider, None);
        prop_assert_eq!(m.provider_host, None);
        prop_assert_eq!(m.description.chars().count(), long.min(1024));
        prop_assert_eq!(m.created, old.as_ref().map_or(100, |o| o.created));
        prop_assert_eq!((m.updated, m.version, m.coordinate), (100, 0, coord));
    }
}

/// One request about `vault`/`env`, varied by the caller.
fn request<'a>(
    vault: &'a VaultName,
    env: &'a str,
    operation: Operation,
    s: Sensitivity,
) -> Request<'a> {
    Request {
        operation,
        vault,
        env,
        production: false,
        record: Some(RecordFacts {
            sensitivity: s,
            revealable: true,
            kind: RecordKind::Secret,
        }),
        new_sensitivity: None,
        new_revealable: None,
        surface: Surface::Cli,
        origin: Origin::Human,
        presence: Presence::None,
        allowlisted: false,
        pin: None,
        delivery: Delivery::Value,
        profile: None,
        destination: None,
        remote: None,
        canary: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: a token exists exactly when `decide` allows the request, for the coordinate the
    /// request describes; it names that vault, coordinate and operation, and carries the
    /// request's obligations. A medium record revealed or injected obliges a notice.
    #[test]
    fn only_an_allowed_decision_mints_a_token(
        operation in prop::sample::select(Operation::ALL.to_vec()),
        s in arb_sensitivity(),
        production in any::<bool>(),
        agent in any::<bool>(),
        proven in any::<bool>(),
        env in prop::sample::select(vec!["dev", "prod"]),
        coord in prop::sample::select(vec![
            "secret:dev/a/b", "secret:prod/a/b", "secret://global/dev/a/b",
        ]),
        project in any::<bool>(),
    ) {
        let vault = if project { VaultName::Project("app".into()) } else { VaultName::Global };
        let mut req = request(&vault, env, operation, s);
        req.production = production;
        req.origin = if agent { Origin::Agent } else { Origin::Human };
        req.presence = if proven { Presence::Proven } else { Presence::None };
        let coordinate = Coordinate::parse(coord).unwrap();
        let matches = coordinate.env() == env && !(coord.contains("//global/") && project);
        let decided = decide(&req, &Scope::full());
        match authorize(&req, &coordinate, &Scope::full()) {
            Ok(token) => {
                prop_assert!(matches && decided == Decision::Allow);
                prop_assert_eq!(token.vault(), &vault);
                prop_assert_eq!(token.coordinate(), &coordinate.unpinned());
                prop_assert_eq!(token.operation(), operation);
                prop_assert_eq!(token.obligations(), Obligations::of(&req));
            }
            Err(d) => {
                prop_assert!(!matches || decided != Decision::Allow);
                prop_assert_ne!(d, Decision::Allow);
            }
        }
        let notify = Obligations::of(&req).notify_medium_use;
        prop_assert_eq!(
            notify,
            matches!(operation, Operation::Reveal | Operation::Inject | Operation::Sign)
                && s == Sensitivity::Medium
        );
    }
}

const FAST: KdfParams = KdfParams {
    m_kib: 8,
    t: 1,
    p: 1,
};

fn token(coord: &str, operation: Operation) -> Allowed {
    let c = Coordinate::parse(coord).unwrap();
    let vault = VaultName::Global;
    authorize(
        &request(&vault, c.env(), operation, Sensitivity::Low),
        &c,
        &Scope::full(),
    )
    .unwrap()
}

/// Law: a token for coordinate A and operation X reads A only, and only for what X uses:
/// it never reads B, and a token for a metadata look or a fingerprint reads no value.
#[test]
fn a_token_reads_only_its_record_for_its_operation() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LockedStore::create(dir.path(), b"pass phrase", FAST).unwrap();
    let g = VaultName::Global;
    store.create_vault(&g, audited("init")).unwrap();
    for (c, v) in [
        ("secret:dev/a/one", b"first".as_slice()),
        ("secret:dev/a/two", b"second"),
    ] {
        let meta = metadata(c, Sensitivity::Low, true, 0);
        store.put(&g, meta, Some(v), audited("add")).unwrap();
    }
    let a = Coordinate::parse("secret:dev/a/one").unwrap();
    let reveal_a = token("secret:dev/a/one", Operation::Reveal);
    let (meta, value) = store.read_allowed(&reveal_a, None).unwrap();
    assert_eq!(
        (meta.coordinate, value.expose()),
        (a.clone(), b"first".as_slice())
    );
    assert!(matches!(
        store.fingerprint_allowed(&reveal_a),
        Err(StoreError::NotAllowed { .. })
    ));
    for op in [
        Operation::Metadata,
        Operation::Fingerprint,
        Operation::Delete,
        Operation::EditDescription,
    ] {
        let t = token("secret:dev/a/one", op);
        assert!(
            matches!(
                store.read_allowed(&t, None),
                Err(StoreError::NotAllowed { .. })
            ),
            "{op:?}"
        );
    }
    // Equal values fingerprint equal, different ones differ.
    let meta = metadata("secret:dev/a/same", Sensitivity::Low, true, 0);
    store.put(&g, meta, Some(b"first"), audited("add")).unwrap();
    let mut fp = |c: &str| {
        store
            .fingerprint_allowed(&token(c, Operation::Fingerprint))
            .unwrap()
    };
    let fp_a = fp("secret:dev/a/one");
    assert_eq!(fp_a, fp("secret:dev/a/same"));
    assert_ne!(fp_a, fp("secret:dev/a/two"));
    let inject_b = token("secret:dev/a/two", Operation::Inject);
    assert_eq!(
        store.read_allowed(&inject_b, None).unwrap().1.expose(),
        b"second"
    );
    // A refused decision mints nothing to read with.
    let vault = VaultName::Global;
    let mut refused = request(&vault, "dev", Operation::Reveal, Sensitivity::InjectOnly);
    refused.origin = Origin::Agent;
    assert!(authorize(&refused, &a, &Scope::full()).is_err());
    // The daemon's own settings have their own accessor, and none is there yet.
    let setting = Coordinate::parse("secret:kovra/settings/allowlist").unwrap();
    assert!(store.read_setting(&setting).unwrap().is_none());
    let system = VaultName::System;
    store.create_vault(&system, audited("init")).unwrap();
    let meta = metadata(
        "secret:kovra/settings/allowlist",
        Sensitivity::High,
        false,
        0,
    );
    store
        .put(&system, meta, Some(b"[]"), audited("add"))
        .unwrap();
    let (_, value) = store.read_setting(&setting).unwrap().unwrap();
    assert_eq!(value.expose(), b"[]");
}

/// An entry naming a catalogued action (the store checks, in debug builds).
fn audited(action: &str) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        ..AuditEntry::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Law: a move loosens nothing without a proof: a new name that changes the provider
    /// (claim lost, gained or swapped) or newly falls under a profile's value opt-in needs
    /// one; anything else, or any move with a proof, is allowed.
    #[test]
    fn a_move_that_loosens_by_name_needs_a_proof(
        from_pin in prop::option::of(prop::sample::select(vec!["openai", "github"])),
        to_pin in prop::option::of(prop::sample::select(vec!["openai", "github"])),
        from_opt in any::<bool>(),
        to_opt in any::<bool>(),
        proven in any::<bool>(),
    ) {
        let presence = if proven { Presence::Proven } else { Presence::None };
        let d = relocation(
            NameFacts { pinned: from_pin, value_opt_in: from_opt },
            NameFacts { pinned: to_pin, value_opt_in: to_opt },
            presence,
        );
        let loosens = from_pin != to_pin || (to_opt && !from_opt);
        if loosens && !proven {
            prop_assert_eq!(d, Decision::NeedsProof(Reason::MoveLoosensNeedsPresence));
        } else {
            prop_assert_eq!(d, Decision::Allow);
        }
    }
}
