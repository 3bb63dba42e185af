use super::*;

fn values(text: &str) -> Vec<(String, String)> {
    parse(text)
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.to_string()))
        .collect()
}

fn one(text: &str) -> String {
    let v = values(text);
    assert_eq!(v.len(), 1, "{text:?}");
    v[0].1.clone()
}

fn refused(text: &str) -> (usize, usize, ErrorKind) {
    let e = parse(text).expect_err(text);
    (e.line, e.column, e.kind)
}

#[test]
fn plain_and_exported_names_with_blanks_and_comments() {
    let v = values(
        "# a comment\n\nA=1\nexport B = two  \n  C=three # note\nD=\nexport_E=x\nexport=y\n",
    );
    let want = [
        ("A", "1"),
        ("B", "two"),
        ("C", "three"),
        ("D", ""),
        ("export_E", "x"),
        ("export", "y"),
    ];
    assert_eq!(v.len(), want.len());
    for ((n, val), (wn, wv)) in v.iter().zip(want) {
        assert_eq!((n.as_str(), val.as_str()), (wn, wv));
    }
}

#[test]
fn unquoted_values_keep_equals_quotes_and_unicode() {
    assert_eq!(
        one("URL=postgres://u:p@h/db?a=b&c=d"),
        "postgres://u:p@h/db?a=b&c=d"
    );
    assert_eq!(one("A=it's \"x\""), "it's \"x\"");
    assert_eq!(one("A=héllo wörld ✓"), "héllo wörld ✓");
    assert_eq!(one("A=C:\\path\\to"), "C:\\path\\to");
    assert_eq!(one("A=$HOME/x"), "$HOME/x");
}

#[test]
fn single_quotes_are_literal_and_span_lines() {
    assert_eq!(one("A='a # b'"), "a # b");
    assert_eq!(one("A='  padded  '"), "  padded  ");
    assert_eq!(one("A='x\\ny'"), "x\\ny");
    assert_eq!(one("A='$NOT'"), "$NOT");
    assert_eq!(one("A='line1\nline2'"), "line1\nline2");
    assert_eq!(one("A='say \"hi\"' # c"), "say \"hi\"");
    assert_eq!(one("A=''"), "");
}

#[test]
fn double_quotes_decode_newlines_only_and_span_lines() {
    assert_eq!(one("A=\"a\\nb\""), "a\nb");
    assert_eq!(one("A=\"a\\rb\""), "a\rb");
    assert_eq!(one("A=\"it's # not a comment\""), "it's # not a comment");
    assert_eq!(
        one("A=\"-----BEGIN-----\nMII\n-----END-----\"\n"),
        "-----BEGIN-----\nMII\n-----END-----"
    );
    assert_eq!(one("A=\"\\d+\\.x\""), "\\d+\\.x");
    assert_eq!(one("A=\"$HOME\"#c"), "$HOME");
    assert_eq!(one("A=\"\""), "");
}

#[test]
fn line_ends_are_normalised() {
    let v = values("A=1\r\nB=\"x\r\ny\"\rC=3");
    assert_eq!(v[0].1, "1");
    assert_eq!(v[1].1, "x\ny");
    assert_eq!(v[2].1, "3");
}

#[test]
fn constructs_the_two_libraries_read_differently_are_refused_with_a_position() {
    let amb = |t: &str, line: usize, column: usize| {
        let (l, c, k) = refused(t);
        assert!(matches!(k, ErrorKind::Ambiguous(_)), "{t:?}: {k:?}");
        assert_eq!((l, c), (line, column), "{t:?}");
    };
    amb("A=a#b", 1, 4);
    amb("A=#b", 1, 3);
    amb("A= # only a comment", 1, 4);
    amb("A=\"x\\ty\"", 1, 5);
    amb("A=\"x\\\\y\"", 1, 5);
    amb("A=\"x\\\"y\"", 1, 5);
    amb("A='x\\'y'", 1, 5);
    amb("A='x\\\\y'", 1, 5);
    amb("A=${B}", 1, 3);
    amb("A='x${B}'", 1, 5);
    amb("OK=1\nA=\"x${B}\"", 2, 5);
    amb("A=`x`", 1, 3);
    amb("A=\u{a0}x", 1, 3);
}

#[test]
fn malformed_lines_name_line_and_column() {
    assert_eq!(refused("A=1\nB\n").0, 2);
    assert_eq!(refused("A=1\nB: x\n"), (2, 2, ErrorKind::ExpectedEquals));
    assert_eq!(refused("A=1\n1B=x\n"), (2, 1, ErrorKind::BadName));
    assert_eq!(refused("A.B=x"), (1, 2, ErrorKind::BadName));
    assert_eq!(refused("A=\"x\" y"), (1, 7, ErrorKind::TrailingText));
    assert_eq!(
        refused("A=1\nB='open\nmore"),
        (2, 3, ErrorKind::Unterminated)
    );
    assert_eq!(refused("A=\"x\\"), (1, 3, ErrorKind::Unterminated));
    let twice = values("A=1\nB=x\nA=2\n");
    assert_eq!(twice.len(), 2);
    assert_eq!((twice[0].0.as_str(), twice[0].1.as_str()), ("A", "2"));
    assert_eq!(refused("A=\"\0\""), (1, 4, ErrorKind::Nul));
    assert_eq!(refused("\u{feff}A=1"), (1, 1, ErrorKind::BadName));
}

#[test]
fn errors_and_debug_never_show_a_value() {
    let canary = "CANARY-dotenv-7f3a";
    for text in [
        format!("A={canary}#x"),
        format!("A=\"{canary}\\t\""),
        format!("A='{canary}"),
        format!("A=\"{canary}\" tail"),
    ] {
        let e = parse(&text).expect_err(&text);
        assert!(!e.to_string().contains(canary));
        assert!(!format!("{e:?}").contains(canary));
    }
    let ok = parse(&format!("A={canary}")).unwrap();
    assert!(!format!("{ok:?}").contains(canary));
}
