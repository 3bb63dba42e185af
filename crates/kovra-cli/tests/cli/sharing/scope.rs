//! A narrowed agent scope skips no receive rule.

use super::*;

/// `receive` sent raw on `h`'s daemon socket (tests/support/raw_request.py), as a same-user
/// agent that declares `scope` (`null`: the full vault): the daemon's reply.
fn raw_receive(h: &Home, file: &Path, token: &str, scope: Value, force: bool) -> Value {
    let (code, status) = h.json(&["status"]);
    assert_eq!(code, 0, "status: {status}");
    let socket = status["socket"]
        .as_str()
        .unwrap_or_else(|| panic!("no socket in status: {status}"))
        .to_string();
    let envelope = json!({
        "v": 1,
        "context": {"surface": "cli", "origin": "agent", "scope": scope, "project": null},
        "request": {
            "op": "receive",
            "package": std::fs::read_to_string(file).unwrap(),
            "token": STANDARD.encode(token.as_bytes()),
            "force": force,
            "accept_sender": null,
            "proof": null,
        },
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/raw_request.py");
    let mut py = Command::new("python3");
    py.arg(script).arg(&socket);
    let out = h.run_with(h.with_env(py), Some(envelope.to_string().as_bytes()));
    assert_exit(&out, 0, "raw request");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the reply is not JSON ({e}): {}", describe(&out)))
}

/// A scope that grants everything but the environment `none`.
fn env_none_scope() -> Value {
    json!({
        "operations": ["metadata", "inject", "reveal", "write"],
        "projects": {"kind": "all"},
        "global": true,
        "environments": {"kind": "only", "names": ["none"]},
    })
}

/// §3, policy: a same-user agent that declares a scope narrowed to an environment the package
/// is not in must not skip a rule. A replacing `--force` without a proof imports nothing, and a
/// package for an environment the receiver declares production is refused, as with the full
/// scope.
#[test]
fn a_narrowed_agent_scope_skips_no_receive_rule() {
    let a = Sender::new("narrow");
    let b = Home::init();
    let idb = identity(&b);
    // B treats `live` as production; A does not, and shares it.
    b.stop();
    std::fs::write(
        b.home.join("config.toml"),
        "production_environments = [\"live\"]\n",
    )
    .unwrap();
    b.unlock_typed();
    let live = canary("narrow-live");
    add_ok(&a.h, "secret:live/app/x", &live, &["--sensitivity", "low"]);

    // B accepts A through a genuine package: it now holds MEDIUM.
    let p1 = a.h.root.join("first.age");
    let first = share(
        &a.h,
        &share_args("dev", &idb.recipient, &p1, &["--group", "db"]),
    );
    let run = receive_tty(&b, &first.file, &first.token, "y", &[]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(coordinates(&b), vec![MEDIUM]);
    let held = sha256_hex(a.medium.as_bytes());
    assert_eq!(hash_via_run(&b, MEDIUM), held);

    // A changes the value and shares it again: a package that would replace MEDIUM.
    let newer = canary("narrow-newer");
    let o = a.h.run_stdin(&["set", MEDIUM, "--stdin"], newer.as_bytes());
    assert!(o.status.success(), "set: {}", describe(&o));
    let p2 = a.h.root.join("second.age");
    let second = share(
        &a.h,
        &share_args("dev", &idb.recipient, &p2, &["--group", "db"]),
    );
    let p3 = a.h.root.join("live.age");
    let to_live = share(&a.h, &share_args("live", &idb.recipient, &p3, &[]));
    let before = records(&b);

    // The raw client itself: with the full scope, the replacement needs a proof and the
    // production package is refused by policy.
    let v = raw_receive(&b, &second.file, &second.token, Value::Null, true);
    assert_eq!(v["status"], "needs-proof", "full scope, --force: {v}");
    let v = raw_receive(&b, &to_live.file, &to_live.token, Value::Null, false);
    assert_eq!(v["status"], "error", "full scope, production: {v}");
    assert_eq!(v["code"], "policy-denied", "full scope, production: {v}");
    assert_eq!(records(&b), before);

    // (a) Narrowed scope, force, no proof: never imported.
    let v = raw_receive(&b, &second.file, &second.token, env_none_scope(), true);
    let refused_or_proof = (v["status"] == "error"
        && ["not-found", "policy-denied"].contains(&v["code"].as_str().unwrap_or_default()))
        || v["status"] == "needs-proof";
    assert!(
        refused_or_proof,
        "a narrowed scope replaced records without a proof: {v}"
    );
    assert_eq!(records(&b), before, "records changed: {v}");
    assert_eq!(
        hash_via_run(&b, MEDIUM),
        held,
        "the value was replaced without a proof: {v}"
    );

    // (b) Narrowed scope, a package for B's production environment: refused, nothing imported.
    let v = raw_receive(&b, &to_live.file, &to_live.token, env_none_scope(), false);
    assert!(
        v["status"] == "error"
            && ["not-found", "policy-denied"].contains(&v["code"].as_str().unwrap_or_default()),
        "a narrowed scope imported a production package: {v}"
    );
    assert_eq!(records(&b), before, "records changed: {v}");
    assert!(
        !coordinates(&b)
            .iter()
            .any(|c| c.starts_with("secret:live/")),
        "{v}"
    );

    // Neither was used up: the human with a proof still can (the first), and production is
    // still refused at a terminal (the second).
    let run = receive_tty(&b, &second.file, &second.token, "n", &["--force"]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert_eq!(hash_via_run(&b, MEDIUM), sha256_hex(newer.as_bytes()));
    let after = Refusals::new(&b);
    after.tty(
        "production at a terminal",
        &to_live.file,
        &to_live.token,
        &["policy-denied"],
    );

    let mut values = a.values();
    values.push(&live);
    values.push(&newer);
    assert_no_values(
        &[&a.h, &b],
        &values,
        &[&first.file, &second.file, &to_live.file],
    );
    for t in [&first.token, &second.token, &to_live.token] {
        assert_token_nowhere(&[&b], t, &[]);
    }
}
