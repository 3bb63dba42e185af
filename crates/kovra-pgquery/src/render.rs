//! Values as text. tokio-postgres always asks for results in the binary format, so the text
//! an agent reads is made here from the binary encoding of the common types, matching what
//! PostgreSQL's own text output (and so `psql`) shows, except that `timestamptz` and `timetz`
//! are shown in UTC. Covered: bool, integers, oid, floats, numeric, the text types, json,
//! jsonb, bytea (`\x…` hex), uuid, date, time, timetz, timestamp, timestamptz, interval,
//! enums, domains over these, and arrays of any of them. A type without a renderer here
//! (inet, money, ranges, geometry, composites…) shows as `<type name>`: wrong text would be
//! worse than none.

use tokio_postgres::types::{FromSql, Kind, Type};

/// One value's bytes as the server sent them, of any type: the renderer decides what they mean.
pub(crate) struct Raw<'a>(pub(crate) &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01, in days.
const EPOCH_DAYS: i64 = 10_957;
const USEC_PER_DAY: i64 = 86_400_000_000;

/// `bytes` of type `ty` as text.
pub(crate) fn render(ty: &Type, bytes: &[u8]) -> String {
    decode(ty, bytes).unwrap_or_else(|| format!("<{}>", ty.name()))
}

fn decode(ty: &Type, b: &[u8]) -> Option<String> {
    if let Kind::Enum(_) = ty.kind() {
        return text(b);
    }
    if let Kind::Domain(inner) = ty.kind() {
        return decode(inner, b);
    }
    if let Kind::Array(element) = ty.kind() {
        return array(element, b);
    }
    Some(match *ty {
        Type::BOOL => (if *b.first()? != 0 { "t" } else { "f" }).to_string(),
        Type::INT2 => i16::from_be_bytes(b.try_into().ok()?).to_string(),
        Type::INT4 => i32::from_be_bytes(b.try_into().ok()?).to_string(),
        Type::INT8 => i64::from_be_bytes(b.try_into().ok()?).to_string(),
        Type::OID | Type::XID | Type::CID => u32::from_be_bytes(b.try_into().ok()?).to_string(),
        Type::FLOAT4 => {
            let v = f32::from_be_bytes(b.try_into().ok()?);
            float(f64::from(v), format!("{v}"), format!("{v:e}"), 6)
        }
        Type::FLOAT8 => {
            let v = f64::from_be_bytes(b.try_into().ok()?);
            float(v, format!("{v}"), format!("{v:e}"), 15)
        }
        Type::NUMERIC => numeric(b)?,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::XML
        | Type::CHAR => text(b)?,
        // jsonb: a version byte (1), then the JSON text.
        Type::JSONB => match b.split_first()? {
            (1, rest) => text(rest)?,
            _ => return None,
        },
        Type::BYTEA => format!("\\x{}", hex::encode(b)),
        Type::UUID => uuid(b)?,
        Type::DATE => date(i32::from_be_bytes(b.try_into().ok()?)),
        Type::TIMESTAMP => timestamp(i64::from_be_bytes(b.try_into().ok()?), ""),
        Type::TIMESTAMPTZ => timestamp(i64::from_be_bytes(b.try_into().ok()?), "+00"),
        Type::TIME => clock(i64::from_be_bytes(b.try_into().ok()?)),
        Type::TIMETZ => timetz(b)?,
        Type::INTERVAL => interval(b)?,
        _ if ty.name() == "citext" => text(b)?,
        _ => return None,
    })
}

/// An array as `{1,2,3}`, `{{a,b},{c,NULL}}`, or `[0:1]={x,y}` when a lower bound is not 1.
/// Binary form: dimensions, a has-nulls flag, the element type's oid, (length, lower bound)
/// per dimension, then each element as a length (-1: NULL) and its bytes.
fn array(element: &Type, b: &[u8]) -> Option<String> {
    let mut at = 0usize;
    let int = |at: &mut usize| -> Option<i32> {
        let v = i32::from_be_bytes(b.get(*at..*at + 4)?.try_into().ok()?);
        *at += 4;
        Some(v)
    };
    let ndim = usize::try_from(int(&mut at)?).ok()?;
    let _has_nulls = int(&mut at)?;
    let _oid = int(&mut at)?;
    if ndim == 0 {
        return Some("{}".into());
    }
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        dims.push((usize::try_from(int(&mut at)?).ok()?, int(&mut at)?));
    }
    let mut elements = Vec::new();
    let total = dims
        .iter()
        .try_fold(1usize, |n, (len, _)| n.checked_mul(*len))?;
    for _ in 0..total {
        let len = int(&mut at)?;
        if len < 0 {
            elements.push("NULL".to_string());
            continue;
        }
        let len = usize::try_from(len).ok()?;
        let bytes = b.get(at..at + len)?;
        at += len;
        elements.push(quote_element(&render(element, bytes)));
    }
    let mut out = String::new();
    if dims.iter().any(|&(_, lower)| lower != 1) {
        for &(len, lower) in &dims {
            let upper = i64::from(lower) + len as i64 - 1;
            out.push_str(&format!("[{lower}:{upper}]"));
        }
        out.push('=');
    }
    let mut next = elements.into_iter();
    nest(&dims, &mut next, &mut out);
    Some(out)
}

/// The elements of `dims` (outermost first) from `elements`, braced and comma-separated.
fn nest(dims: &[(usize, i32)], elements: &mut impl Iterator<Item = String>, out: &mut String) {
    out.push('{');
    let Some(((len, _), inner)) = dims.split_first() else {
        return;
    };
    for i in 0..*len {
        if i > 0 {
            out.push(',');
        }
        if inner.is_empty() {
            out.push_str(&elements.next().unwrap_or_default());
        } else {
            nest(inner, elements, out);
        }
    }
    out.push('}');
}

/// An array element in double quotes when PostgreSQL would quote it (empty, `NULL`, white
/// space, or one of `{}",\`), with `"` and `\` escaped.
fn quote_element(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.eq_ignore_ascii_case("null")
        && !s
            .chars()
            .any(|c| c.is_ascii_whitespace() || matches!(c, '{' | '}' | '"' | ',' | '\\'));
    if plain {
        return s.to_string();
    }
    let mut out = String::from('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn text(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).ok().map(str::to_string)
}

/// A float as PostgreSQL prints it (12+): the shortest digits that read back the same, in
/// exponent form (`1e+15`, `1.5e-07`) when the exponent is below -4 or at least `digits`
/// (15 for float8, 6 for float4). `plain` and `exp` are the value's `{}` and `{:e}` at its
/// own width, so a float4 keeps its own shortest digits.
fn float(v: f64, plain: String, exp: String, digits: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return (if v > 0.0 { "Infinity" } else { "-Infinity" }).into();
    }
    let Some((mantissa, e)) = exp.split_once('e') else {
        return plain;
    };
    let e: i32 = e.parse().unwrap_or(0);
    if v != 0.0 && (e < -4 || e >= digits) {
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", e.abs())
    } else {
        plain
    }
}

fn uuid(b: &[u8]) -> Option<String> {
    if b.len() != 16 {
        return None;
    }
    let h = hex::encode(b);
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// `numeric`: digit count, weight (of the first digit, in powers of 10 000), sign, display
/// scale, then base-10 000 digits.
fn numeric(b: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<Vec<u16>>>()?;
    let digit = |k: i64| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| digits.get(k).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for k in 1..=weight {
            out.push_str(&format!("{:04}", digit(k)));
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut k = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(k)));
            k += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Some(out)
}

/// Year, month, day of a day count from 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD`, with ` BC` for years before 1 (year 0 is 1 BC).
fn ymd(days_since_2000: i64) -> (String, &'static str) {
    let (y, m, d) = civil(days_since_2000 + EPOCH_DAYS);
    let (y, era) = if y <= 0 { (1 - y, " BC") } else { (y, "") };
    (format!("{y:04}-{m:02}-{d:02}"), era)
}

fn date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        _ => {
            let (s, era) = ymd(i64::from(days));
            format!("{s}{era}")
        }
    }
}

fn timestamp(us: i64, zone: &str) -> String {
    match us {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        _ => {
            let (s, era) = ymd(us.div_euclid(USEC_PER_DAY));
            format!("{s} {}{zone}{era}", clock(us.rem_euclid(USEC_PER_DAY)))
        }
    }
}

/// `HH:MM:SS[.ffffff]` (trailing zeros of the fraction dropped, as PostgreSQL does).
fn clock(us: i64) -> String {
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

/// `timetz`: microseconds, then the zone's offset in seconds *west* of UTC.
fn timetz(b: &[u8]) -> Option<String> {
    if b.len() != 12 {
        return None;
    }
    let us = i64::from_be_bytes(b[..8].try_into().ok()?);
    let west = i32::from_be_bytes(b[8..].try_into().ok()?);
    let east = -i64::from(west);
    let sign = if east < 0 { '-' } else { '+' };
    let (h, m, s) = (east.abs() / 3600, east.abs() / 60 % 60, east.abs() % 60);
    let mut zone = format!("{sign}{h:02}");
    if m != 0 || s != 0 {
        zone.push_str(&format!(":{m:02}"));
    }
    if s != 0 {
        zone.push_str(&format!(":{s:02}"));
    }
    Some(format!("{}{zone}", clock(us)))
}

/// `interval` in PostgreSQL's default `postgres` style: `1 year 2 mons 3 days 04:05:06`.
fn interval(b: &[u8]) -> Option<String> {
    if b.len() != 16 {
        return None;
    }
    let us = i64::from_be_bytes(b[..8].try_into().ok()?);
    let days = i32::from_be_bytes(b[8..12].try_into().ok()?);
    let months = i32::from_be_bytes(b[12..].try_into().ok()?);
    // A positive part right after a negative one carries a `+` (PostgreSQL's `postgres` style).
    let mut parts = Vec::new();
    let mut negative_before = false;
    let mut unit = |n: i32, one: &str, many: &str| {
        let plus = if negative_before && n > 0 { "+" } else { "" };
        negative_before = n < 0;
        format!("{plus}{n} {}", if n == 1 { one } else { many })
    };
    let (years, mons) = (months / 12, months % 12);
    if years != 0 {
        parts.push(unit(years, "year", "years"));
    }
    if mons != 0 {
        parts.push(unit(mons, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days, "day", "days"));
    }
    if us != 0 || parts.is_empty() {
        let sign = if us < 0 {
            "-"
        } else if negative_before {
            "+"
        } else {
            ""
        };
        parts.push(format!("{sign}{}", clock(us.abs())));
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics() {
        // 12345.678 = digits [1, 2345, 6780], weight 1, dscale 3.
        let mut b = vec![0, 3, 0, 1, 0, 0, 0, 3];
        for d in [1u16, 2345, 6780] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        assert_eq!(numeric(&b).as_deref(), Some("12345.678"));
        // -0.5 = digits [5000], weight -1, dscale 4.
        let b = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 4, 0x13, 0x88];
        assert_eq!(numeric(&b).as_deref(), Some("-0.5000"));
        let b = [0, 1, 0xFF, 0xFE, 0, 0, 0, 8, 0, 5];
        assert_eq!(numeric(&b).as_deref(), Some("0.00000005"));
        assert_eq!(numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).as_deref(), Some("0"));
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-730_119), "0001-01-01");
        assert_eq!(date(-730_120), "0001-12-31 BC");
        assert_eq!(
            timestamp(USEC_PER_DAY + 3_723_000_500, ""),
            "2000-01-02 01:02:03.0005"
        );
        assert_eq!(timestamp(-1, "+00"), "1999-12-31 23:59:59.999999+00");
        assert_eq!(
            interval(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 14]).as_deref(),
            Some("1 year 2 mons 3 days")
        );
    }
}
