//! One page of a streamed reply (`{"items": [...]}`), its items handed over one at a time as
//! they are parsed, borrowing from the frame's bytes: a page of a thousand records needs no
//! vector of them, which grew by doubling and copying on every page of a long `list`.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::CliError;
use kovra_proto::ErrorCode;

/// Hand each item of the page in `raw` to `each`, in order; returns how many there were.
/// An error from `each` (stdout went away) stops the parse and is returned as it came.
pub(crate) fn for_each_item<'de, T, F>(raw: &'de [u8], each: F) -> Result<usize, CliError>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), CliError>,
{
    let mut handler = Handler {
        each,
        failure: None,
        count: 0,
        item: PhantomData,
    };
    let unparsed = || {
        CliError::new(
            ErrorCode::Internal,
            "a page of the daemon's streamed reply does not parse",
            Some("use a kovra client of the same version as the daemon"),
        )
    };
    // The page's text checked as UTF-8 in one pass, so its strings are not checked again
    // one by one while they are parsed.
    let text = std::str::from_utf8(raw).map_err(|_| unparsed())?;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de
        .deserialize_map(PageVisitor(&mut handler))
        .and_then(|()| de.end());
    match (parsed, handler.failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(()), None) => Ok(handler.count),
        (Err(_), None) => Err(unparsed()),
    }
}

struct Handler<T, F> {
    each: F,
    failure: Option<CliError>,
    count: usize,
    item: PhantomData<fn(T)>,
}

/// The page object: its `items` array, any other field skipped.
struct PageVisitor<'h, T, F>(&'h mut Handler<T, F>);

impl<'de, T, F> Visitor<'de> for PageVisitor<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), CliError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page of items")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                if seen {
                    return Err(de::Error::duplicate_field("items"));
                }
                seen = true;
                map.next_value_seed(Items(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if seen {
            Ok(())
        } else {
            Err(de::Error::missing_field("items"))
        }
    }
}

/// The `items` array, each element handed to the handler as soon as it is parsed.
struct Items<'h, T, F>(&'h mut Handler<T, F>);

impl<'de, T, F> DeserializeSeed<'de> for Items<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), CliError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T, F> Visitor<'de> for Items<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), CliError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let h = self.0;
        while let Some(item) = seq.next_element::<T>()? {
            if let Err(e) = (h.each)(item) {
                h.failure = Some(e);
                return Err(de::Error::custom("stopped"));
            }
            h.count += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn items_come_in_order_borrowed_and_other_fields_are_skipped() {
        let raw = br#"{"next": 7, "items": ["a", "b\"", "c"], "more": {"x": [1]}}"#;
        let mut got = Vec::new();
        let n = for_each_item(raw, |s: std::borrow::Cow<'_, str>| {
            got.push(s.into_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(got, ["a", "b\"", "c"]);
    }

    #[test]
    fn a_page_without_items_or_with_trailing_bytes_does_not_parse() {
        for raw in [
            &br#"{"other": []}"#[..],
            br#"{"items": []} x"#,
            br#"{"items": [1,]}"#,
            br#"{"items": [], "items": []}"#,
        ] {
            let r = for_each_item(raw, |_: u32| Ok(()));
            assert_eq!(r.unwrap_err().code, ErrorCode::Internal, "{raw:?}");
        }
    }

    #[test]
    fn a_failure_of_the_handler_stops_the_page_and_comes_back_as_it_was() {
        let mut seen = 0;
        let r = for_each_item(br#"{"items": [1, 2, 3]}"#, |_: u32| {
            seen += 1;
            Err(CliError::new(ErrorCode::Output, "stdout went away", None))
        });
        assert_eq!(r.unwrap_err().code, ErrorCode::Output);
        assert_eq!(seen, 1);
    }
}
