//! `kovra_core::coord`: templates, coordinates and names as a user or a file writes them.

use kovra_core::coord::{Coordinate, CoordinateTemplate, validate_name};

/// A parsed coordinate prints back as the text it came from and parses again to itself
/// (also through serde, as it travels on the wire); a template resolves by substitution
/// only; an error points inside the text.
pub fn coordinate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = validate_name(text);
    let chars = text.chars().count();
    match CoordinateTemplate::parse(text) {
        Ok(template) if !template.is_template() => {
            let c = template.resolve(None);
            assert!(c.is_ok(), "a fixed coordinate resolves without an env");
            let Ok(c) = c else { return };
            assert_eq!(c.to_string(), text, "a coordinate prints as written");
            assert_eq!(Coordinate::parse(text).as_ref(), Ok(&c));
            assert_eq!(
                c.path(),
                format!("{}/{}/{}", c.env(), c.group(), c.key()),
                "the path is the three segments"
            );
            let json = serde_json::to_string(&c).unwrap_or_default();
            let back: Result<Coordinate, _> = serde_json::from_str(&json);
            assert_eq!(back.ok().as_ref(), Some(&c), "serde round trip");
            assert_eq!(
                Coordinate::parse(&c.unpinned().to_string()),
                Ok(c.unpinned())
            );
        }
        Ok(template) => {
            assert!(
                Coordinate::parse(text).is_err(),
                "a template is never addressable"
            );
            assert!(template.resolve(None).is_err());
            let resolved = template.resolve(Some("dev"));
            let expected = text.replacen("${ENV}", "dev", 1);
            assert_eq!(
                resolved.map(|c| c.to_string()).ok().as_deref(),
                Some(expected.as_str()),
                "substitution replaces the placeholder and nothing else"
            );
            assert!(
                template.resolve(Some("a/b")).is_err(),
                "a bad env is refused"
            );
        }
        Err(e) => {
            let _ = (e.to_string(), e.hint());
            if let Some(p) = e.position() {
                assert!(
                    (1..=chars + 1).contains(&p),
                    "error position {p} lies outside the {chars} characters of the text"
                );
            }
            assert!(Coordinate::parse(text).is_err());
        }
    }
}
