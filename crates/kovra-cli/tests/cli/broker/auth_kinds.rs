//! Every auth kind, through a built-in provider of that kind.

use super::providers::provider_doc;
use super::*;

// ---------------------------------------------------------------------------------------
// Every auth kind, through a built-in provider of that kind
// ---------------------------------------------------------------------------------------

#[test]
fn every_auth_kind_puts_the_credential_on_the_wire_and_scrubs_the_echo() {
    let b = Broker::new();
    let (v, _) = b.json_ok(&["providers"]);
    let list = v
        .as_array()
        .or_else(|| v["providers"].as_array())
        .unwrap()
        .clone();
    let mut tried = Vec::new();
    for kind in ["bearer", "header", "query", "basic", "path"] {
        // The first provider of this kind with an exact host and a GET or POST capability.
        let Some(brief) = list.iter().find(|p| p["auth"]["kind"] == kind) else {
            continue;
        };
        let name = brief["name"].as_str().unwrap().to_string();
        let (_, full, _) = b.json(&["providers", "show", &name]);
        let p = provider_doc(&full);
        let caps = p["capabilities"].as_array().unwrap();
        let pick = caps.iter().find_map(|c| {
            let ms: Vec<&str> = c["methods"]
                .as_array()?
                .iter()
                .filter_map(|m| m.as_str())
                .collect();
            let m = ["GET", "POST"].into_iter().find(|m| ms.contains(m))?;
            let path = c["paths"].as_array()?.first()?.as_str()?.to_string();
            Some((m.to_string(), path))
        });
        let Some((method, prefix)) = pick else {
            continue;
        };
        let path = format!("{}/echo", prefix.trim_end_matches('/'));
        let claimed = p["secrets"][0].as_str().unwrap().to_string();
        let coord = format!("secret:dev/{name}/{}", claimed.to_ascii_lowercase());
        let (value, parts): (String, Vec<String>) = match kind {
            "basic" => {
                let u = format!("user{}", random_hex(10));
                let pw = format!("pw-{}/{}+x", random_hex(10), random_hex(4));
                (format!("{u}:{pw}"), vec![u, pw])
            }
            "path" => (
                format!(
                    "{}:AA{}",
                    1_000_000_000 + u64::from_str_radix(&random_hex(3), 16).unwrap(),
                    random_hex(16)
                ),
                vec![],
            ),
            _ => (token_canary(kind), vec![]),
        };
        b.add(&coord, &value, &[]);
        let before = b.up.count();
        let mut args = vec!["api", name.as_str(), method.as_str(), path.as_str()];
        if method == "POST" {
            args.extend(["--body", "{}"]);
        }
        let out = b.run(&args);
        assert_exit(&out, 0, format!("{kind} via {name}"));
        assert_clean(&format!("{kind} via {name}"), &out, &value);
        for part in &parts {
            assert_clean(&format!("{kind} part"), &out, part);
        }
        assert!(
            stdout(&out).contains(&format!("[kovra:{claimed}]")),
            "{kind} via {name}: no marker: {}",
            describe(&out)
        );
        let reqs = b.up.requests();
        assert_eq!(reqs.len(), before + 1, "{kind} via {name}: {reqs:?}");
        let r = reqs.last().unwrap();
        let host = p["default_host"]
            .as_str()
            .or_else(|| p["hosts"][0].as_str())
            .unwrap();
        assert_eq!(r["sni"], host, "{kind} via {name}: {r}");
        let wire = r.to_string();
        let arrived = match kind {
            "basic" => {
                let (u, pw) = value.split_once(':').unwrap();
                let render = |t: &Value| {
                    t.as_str()
                        .unwrap_or("")
                        .replace("{secret.user}", u)
                        .replace("{secret.password}", pw)
                        .replace("{secret}", &value)
                };
                let pair = format!(
                    "{}:{}",
                    render(&p["auth"]["username"]),
                    render(&p["auth"]["password"])
                );
                req_header(r, "authorization")
                    == Some(format!("Basic {}", STANDARD.encode(pair.as_bytes())))
            }
            "query" => r["query"]
                .as_str()
                .unwrap()
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .any(|(_, v)| form_decode(v) == value),
            "path" => {
                r["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("/bot{value}/"))
                    || r["target"].as_str().unwrap().contains(&value)
            }
            _ => wire.contains(&value),
        };
        assert!(
            arrived,
            "{kind} via {name}: the credential did not arrive: {r}"
        );
        // The provider's own auth header / parameter is the caller's to leave alone.
        let mut own = vec!["api", name.as_str(), method.as_str(), path.as_str()];
        let arg;
        match kind {
            "header" => {
                arg = format!("{}: x", p["auth"]["name"].as_str().unwrap());
                own.extend(["-H", &arg]);
                b.refused(2, "header-forbidden", &own);
            }
            "query" => {
                arg = format!("{}=x", p["auth"]["param"].as_str().unwrap());
                own.extend(["-q", &arg]);
                b.refused(2, "query-forbidden", &own);
            }
            _ => {}
        }
        assert_eq!(
            b.up.count(),
            before + 1,
            "{kind} via {name}: a refused call went out"
        );
        tried.push(kind);
    }
    for kind in ["bearer", "header", "query", "path"] {
        assert!(
            tried.contains(&kind),
            "no built-in provider exercised auth kind {kind}: {tried:?}"
        );
    }
}
