//! The `--json` contract, pinned: each reply below (as the daemon sends it) must print as
//! exactly this document, field for field and in this order.

use super::*;

/// Replies as the daemon sends them; today each prints as the same document.
const REPLIES: &[&str] = &[
    r#"{"kind":"status","protocol":1,"daemon_pid":42,"home":"/h","socket":"/s","initialized":true,"unlocked":true,"vault_id":"v1","records":3,"projects":["app"],"idle_timeout_secs":900,"locks_in_secs":12,"production_environments":["prod"],"passphrase_proofs":false}"#,
    r#"{"kind":"status","protocol":1,"daemon_pid":42,"home":"/h","socket":"/s","initialized":false,"unlocked":false,"idle_timeout_secs":900,"production_environments":[],"passphrase_proofs":true}"#,
    r#"{"kind":"done","message":"vault locked"}"#,
    r#"{"kind":"handed-over","failed_unlocks":2}"#,
    r#"{"kind":"verified","kdf":{"salt":"00ff","kdf":{"m_kib":65536,"t":3,"p":1}},"daemon_tag":"ab"}"#,
    r#"{"kind":"written","coordinate":"secret:dev/a/b","vault":"global","version":2}"#,
    r#"{"kind":"record","coordinate":"secret:dev/a/b","vault":"global","env":"dev","sensitivity":"inject-only","revealable":false,"production":false,"description":"d","version":1,"created":10,"updated":11,"totp":{"algorithm":"SHA256","digits":8,"period":60},"provider":"github","provider_host":"api.github.com","type":"totp"}"#,
    r#"{"kind":"records","records":[{"coordinate":"secret:prod/a/b","vault":"project:app","env":"prod","sensitivity":"high","revealable":true,"production":true,"description":"","version":3,"created":1,"updated":2,"type":"secret"}],"tampered":1,"missing":0}"#,
    r#"{"kind":"history","coordinate":"secret:dev/a/b","versions":[{"coordinate":"secret:dev/a/b","vault":"global","env":"dev","sensitivity":"low","revealable":true,"production":false,"description":"x","version":1,"created":1,"updated":1,"type":"secret"}]}"#,
    r#"{"kind":"fingerprint","coordinate":"secret:dev/a/b","fingerprint":"kfp1:abc"}"#,
    r#"{"kind":"audit","entries":[{"seq":1,"time":5,"action":"reveal","coordinate":"secret:dev/a/b","vault":"global","surface":"cli","origin":"agent","decision":"deny","reason":"policy","pid":7,"exe":"/bin/sh","detail":"d","agent":"bot"},{"seq":2,"time":6,"action":"unlock","surface":"cli","origin":"human","decision":"allow"}]}"#,
    r#"{"kind":"audit-verified","entries":4,"ok":false,"problem":{"problem":"gap","expected":2,"found":3}}"#,
    r#"{"kind":"audit-verified","entries":4,"ok":false,"problem":{"problem":"truncated","expected_last":9,"found_last":4}}"#,
    r#"{"kind":"audit-verified","entries":4,"ok":false,"problem":{"problem":"head-mismatch"}}"#,
    r#"{"kind":"audit-verified","entries":4,"ok":true}"#,
    r#"{"kind":"projects","projects":["a","b"]}"#,
    r#"{"kind":"run-ready","injected":["API_KEY"],"descriptors_received":true}"#,
    r#"{"kind":"exited","code":3}"#,
    r#"{"kind":"allowlist","entries":[{"path":"/usr/bin/x","sha256":"aa","added":9}]}"#,
    r#"{"kind":"api","status":200,"host":"api.example.com","coordinate":"secret:dev/a/b","headers":[["content-type","application/json"]],"body":"{}","body_base64":null,"removed_headers":["set-cookie"],"duration_ms":12}"#,
    r#"{"kind":"identity","recipient":"age1x","signing_key":"sk","fingerprint":"fp","created":true}"#,
    r#"{"kind":"sender-unknown","fingerprint":"fp","recipient":"age1x","package_id":"p1","environment":"dev","records":2}"#,
    r#"{"kind":"received","package_id":"p1","sender_fingerprint":"fp","environment":"dev","imported":["secret:dev/a/b"],"vault":"global"}"#,
    r#"{"kind":"secret-requests","pending":[{"coordinate":"secret:dev/a/b","vault":"project:app","description":"please","requested":3,"by":"mcp/agent"}]}"#,
    r#"{"kind":"providers","providers":[{"name":"github","hosts":["api.github.com"],"origin":"builtin"}]}"#,
    r#"{"kind":"approvals","pending":[{"id":"r1","action":"reveal","surface":"mcp","origin":"agent","created":1,"expires_in":120,"facts":[{"name":"argv","value":"sh -c x","untrusted":true}]}]}"#,
    r#"{"kind":"approval-state","id":"r1","state":"approved"}"#,
    r#"{"kind":"doctor","findings":[{"level":"error","kind":"unresolved","message":"m","line":3},{"level":"warning","kind":"unused-record","message":"n"}],"errors":1,"warnings":1}"#,
    r#"{"kind":"two-factor-setup","uri":"b3RwYXV0aDovL3RvdHAveA=="}"#,
    r#"{"kind":"two-factor-state","state":"enabled"}"#,
    r#"{"kind":"record","coordinate":"secret:dev/ssh/deploy","vault":"global","env":"dev","sensitivity":"high","revealable":false,"production":false,"description":"","version":1,"created":10,"updated":11,"type":"ssh-key","ssh_key":{"algorithm":"ssh-ed25519","fingerprint":"SHA256:abc","public_key":"ssh-ed25519 AAAAC3 secret:dev/ssh/deploy"}}"#,
    r#"{"kind":"public-key","coordinate":"secret:dev/ssh/deploy","algorithm":"ssh-ed25519","fingerprint":"SHA256:abc","public_key":"ssh-ed25519 AAAAC3 c","vault":"global","version":1}"#,
    r#"{"kind":"signed","coordinate":"secret:dev/ssh/deploy","namespace":"file","fingerprint":"SHA256:abc","signature":"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"}"#,
];

fn parse(wire: &str) -> Reply {
    serde_json::from_str(wire).unwrap_or_else(|e| panic!("{wire}: {e}"))
}

#[test]
fn every_reply_prints_as_its_documented_shape() {
    for wire in REPLIES {
        let reply = parse(wire);
        assert_eq!(compact(&reply), *wire);
    }
}

#[test]
fn a_failure_the_reply_carries_is_embedded_last() {
    let reply = parse(REPLIES[7]);
    let e = integrity(&reply).unwrap_err();
    let doc = serde_json::to_string(&WithError {
        reply: ReplyDoc::from(&reply),
        error: (&e).into(),
    })
    .unwrap();
    let expected = format!(
        "{},\"error\":{{\"code\":\"record-tampered\",\"message\":\"{}\",\"hint\":\"{}\"}}}}",
        REPLIES[7].trim_end_matches('}'),
        e.message,
        e.hint.unwrap()
    );
    assert_eq!(doc, expected);
}

#[test]
fn documents_of_the_cli_itself() {
    let e = CliError::new(kovra_proto::ErrorCode::NotFound, "no record", None);
    assert_eq!(
        serde_json::to_string(&ErrorOnly { error: (&e).into() }).unwrap(),
        r#"{"error":{"code":"not-found","message":"no record","hint":null}}"#
    );
    assert_eq!(
        serde_json::to_string(&RevealedText {
            coordinate: "secret:dev/a/b",
            value: "v"
        })
        .unwrap(),
        r#"{"coordinate":"secret:dev/a/b","value":"v"}"#
    );
    assert_eq!(
        serde_json::to_string(&RevealedBytes {
            coordinate: "secret:dev/a/b",
            value_base64: Base64(&[0xff, 0x00])
        })
        .unwrap(),
        r#"{"coordinate":"secret:dev/a/b","value_base64":"/wA="}"#
    );
    assert_eq!(
        serde_json::to_string(&CodeDoc {
            kind: "code",
            coordinate: "secret:dev/a/b",
            code: "123456",
            valid_for: 20
        })
        .unwrap(),
        r#"{"kind":"code","coordinate":"secret:dev/a/b","code":"123456","valid_for":20}"#
    );
    assert_eq!(
        serde_json::to_string(&OfflineDoc {
            kind: "status",
            daemon: "not-running",
            home: "/h".into(),
            socket: "/s".into(),
            initialized: true,
            unlocked: false,
        })
        .unwrap(),
        r#"{"kind":"status","daemon":"not-running","home":"/h","socket":"/s","initialized":true,"unlocked":false}"#
    );
}

/// A streamed page's records, read borrowing from the page, print as the records of a
/// one-frame reply do.
#[test]
fn a_borrowed_record_prints_as_its_view() {
    let records = [
        r#"{"coordinate":"secret:dev/a/b","vault":"global","env":"dev","sensitivity":"inject-only","revealable":false,"production":false,"description":"d \"q\" \\ é","version":1,"created":10,"updated":11,"totp":{"algorithm":"SHA256","digits":8,"period":60},"provider":"github","provider_host":"api.github.com","type":"totp"}"#,
        r#"{"coordinate":"secret:dev/ssh/k","vault":"global","env":"dev","sensitivity":"high","revealable":false,"production":false,"description":"","version":1,"created":1,"updated":2,"type":"ssh-key","ssh_key":{"algorithm":"ssh-ed25519","fingerprint":"SHA256:a","public_key":"ssh-ed25519 AAAA c"}}"#,
        r#"{"coordinate":"secret:prod/a/b","vault":"project:app","env":"prod","sensitivity":"high","revealable":true,"production":true,"description":"","version":3,"created":1,"updated":2}"#,
        r#"{"coordinate":"secret:dev/db/main","vault":"global","env":"dev","sensitivity":"high","revealable":false,"production":false,"description":"","version":1,"created":1,"updated":2,"type":"postgres","database":{"engine":"postgres","hosts":[{"host":"db.internal","port":5432},{"port":5433}],"database":"app","user":"svc","sslmode":"verify-full","params":{"application_name":"kovra"},"password":true}}"#,
    ];
    for wire in records {
        let view: kovra_proto::RecordView = serde_json::from_str(wire).unwrap();
        let borrowed: docs::RecordIn<'_> = serde_json::from_str(wire).unwrap();
        assert_eq!(
            serde_json::to_string_pretty(&docs::RecordDoc::from(&borrowed)).unwrap(),
            serde_json::to_string_pretty(&docs::RecordDoc::from(&view)).unwrap()
        );
    }
}
