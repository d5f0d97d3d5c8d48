//! Small, allocation-conscious JSON writing helpers shared by the object
//! hashing code and the exporters: string escaping and Python-compatible float
//! formatting (`repr(float)`), which the object hashes depend on.

use std::fmt::Write as _;

/// Appends `s` as a JSON string literal. With `ascii_only`, every non-ASCII
/// character is written as `\uXXXX` (surrogate pairs above U+FFFF), as
/// Python's `json.dumps` does by default.
pub fn write_str(out: &mut String, s: &str, ascii_only: bool) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let look = if ascii_only { &LOOK_ASCII_ONLY } else { &LOOK_UTF8 };
    let mut start = 0;
    let mut i = 0;
    loop {
        i = next_look(bytes, i, look);
        let Some(&b) = bytes.get(i) else { break };
        // U+2028 and U+2029 (E2 80 A8/A9) are escaped even in the UTF-8
        // form: they are line breaks to Python's `str.splitlines()` and to
        // JavaScript. Any other E2 sequence is plain there.
        if b == 0xE2
            && !ascii_only
            && !(bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)))
        {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        if b >= 0x80 {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{:04x}", u);
            }
            i += ch.len_utf8();
        } else {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x08 => out.push_str("\\b"),
                0x0c => out.push_str("\\f"),
                _ => {
                    let _ = write!(out, "\\u{:04x}", b);
                }
            }
            i += 1;
        }
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The index, from `i`, of the next byte `look` flags (or the end). The
/// first eight bytes one at a time, so JSON dense with quotes stays a byte
/// loop; past them, eight plain ASCII bytes at a time, since a long text (a
/// metric series' JSON, a captured payload) is mostly bytes that need
/// nothing (measured: 0.65 → 0.28 ns a byte on a captured objects map,
/// unchanged on short and quote-dense strings).
#[inline(always)]
fn next_look(bytes: &[u8], mut i: usize, look: &[bool; 256]) -> usize {
    let first = bytes.len().min(i + 8);
    while i < first {
        if look[bytes[i] as usize] {
            return i;
        }
        i += 1;
    }
    while let Some(word) = bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        if !plain_ascii_word(u64::from_le_bytes(word)) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !look[bytes[i] as usize] {
        i += 1;
    }
    i
}

/// Whether none of the eight bytes of `x` is a control, `"`, `\` or
/// non-ASCII (the word tests of "Bit Twiddling Hacks": `has_less` and
/// `has_zero`, exact as yes/no answers).
#[inline]
fn plain_ascii_word(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let quote = has_zero(x ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
    (control | quote | backslash | (x & HIGH)) == 0
}

/// The bytes [`write_str`] looks at with `ascii_only`: those a JSON string
/// must escape (controls, `"` and `\`) and every non-ASCII byte.
static LOOK_ASCII_ONLY: [bool; 256] = look_table(true, false);
/// The bytes [`write_str`] looks at without `ascii_only`: those it escapes
/// and the first byte of U+2028 / U+2029.
static LOOK_UTF8: [bool; 256] = look_table(false, true);

const fn look_table(non_ascii: bool, e2: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || (non_ascii && i >= 0x80) || (e2 && i == 0xE2);
        i += 1;
    }
    t
}

/// Appends `v` exactly as Python's `repr(float)` would: shortest round-trip
/// digits, `2.0` for integral values, scientific form with a signed two-digit
/// exponent below 1e-4 and from 1e16 on, and `inf` / `-inf` / `nan`.
pub fn write_py_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // ryu's shortest round-trip digits; like CPython's dtoa it takes the even
    // candidate when two are equally close (checked against CPython's own
    // output in tests/float_repr.rs). Only its digits and exponent are used.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    // Fast paths, most values (measured: 102 → about 30 ns a value, the bulk
    // of rendering a metric series). ryu writes scientific notation below
    // 1e-5 and from 1e16, where Python does too, with the same mantissa;
    // only the exponent differs (`e-5` → `e-05`, `e16` → `e+16`). From 1e-4
    // up to 1e16 both write fixed notation digit for digit (`0.00015`,
    // `12.5`, `1000000000000000.0`). Between 1e-5 and 1e-4, and for zero,
    // the general path below.
    if let Some(e) = text.find('e') {
        out.push_str(&text[..e]);
        let exp = &text[e + 1..];
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ("e-", d),
            None => ("e+", exp),
        };
        out.push_str(sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    if (1e-4..1e16).contains(&v.abs()) {
        out.push_str(text);
        return;
    }
    let (neg, text) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (mant, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    // value = 0.d1d2.. × 10^decpt, digits without leading or trailing zeros.
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut int_len = mant.len() as i32;
    let mut lead = 0;
    for (i, c) in mant.bytes().enumerate() {
        match c {
            b'.' => int_len = i as i32,
            b'0' if n == 0 => lead += 1,
            d if n < digits.len() => {
                digits[n] = d;
                n += 1;
            }
            _ => {}
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let d = std::str::from_utf8(&digits[..n]).unwrap_or("0");
    if neg {
        out.push('-');
    }
    if d.is_empty() {
        out.push_str("0.0");
        return;
    }
    let decpt = int_len + exp - lead;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..-decpt {
                out.push('0');
            }
            out.push_str(d);
        } else if d.len() as i32 <= decpt {
            out.push_str(d);
            for _ in d.len() as i32..decpt {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&d[..decpt as usize]);
            out.push('.');
            out.push_str(&d[decpt as usize..]);
        }
    } else {
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
}

/// Appends a float as a JSON number in Python's `repr` form; non-finite values,
/// which JSON cannot hold, are written as `null`.
pub fn write_json_float(out: &mut String, v: f64) {
    if v.is_finite() {
        write_py_float(out, v);
    } else {
        out.push_str("null");
    }
}

/// Parses JSON as Python's `json.dumps` writes it: the literals `NaN`,
/// `Infinity` and `-Infinity` (which `dreadnode.objects` holds for
/// non-finite floats) read as `null`, since a JSON value cannot hold them.
pub fn parse_python_json(s: &str) -> Result<serde_json::Value, serde_json::Error> {
    if !(s.contains("NaN") || s.contains("Infinity")) {
        return serde_json::from_str(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut i, mut start, mut in_str) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            _ if !in_str => {
                let rest = &b[i..];
                let n = [&b"NaN"[..], b"-Infinity", b"Infinity"].iter().find(|t| rest.starts_with(t)).map(|t| t.len());
                if let Some(n) = n {
                    out.push_str(&s[start..i]);
                    out.push_str("null");
                    i += n;
                    start = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&s[start..]);
    serde_json::from_str(&out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn python_json_reads_non_finite_literals_as_null_outside_strings_only() {
        let v = super::parse_python_json(r#"{"a":[NaN,Infinity,-Infinity,1.5],"s":"NaN \" Infinity"}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a": [null, null, null, 1.5], "s": "NaN \" Infinity"}));
        assert!(super::parse_python_json("[NaNx]").is_err());
    }

    use super::*;

    /// The escaping rules one character at a time: what the fast path and
    /// the byte loop must equal.
    fn reference(s: &str, ascii_only: bool) -> String {
        let mut out = String::from("\"");
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if (ascii_only && !c.is_ascii()) || c == '\u{2028}' || c == '\u{2029}' => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{:04x}", u));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn escaping_equals_the_one_character_at_a_time_rules(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("[a-zA-Z0-9 {}:,._-]{0,24}").unwrap(),
                    proptest::string::string_regex("[\"\\\\\\x00-\\x1f\\x7f]{1,3}").unwrap(),
                    proptest::string::string_regex("[é€😀\u{2028}\u{2029}]{1,2}").unwrap(),
                ],
                0..12,
            ),
            ascii_only in proptest::bool::ANY,
        ) {
            let s: String = parts.concat();
            let mut out = String::new();
            write_str(&mut out, &s, ascii_only);
            proptest::prop_assert_eq!(out, reference(&s, ascii_only));
        }
    }

    #[test]
    fn the_word_test_flags_every_byte_that_needs_a_look_in_every_position() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                let plain = !LOOK_ASCII_ONLY[b as usize];
                assert_eq!(plain_ascii_word(u64::from_le_bytes(w)), plain, "byte {b:#04x} at {pos}");
            }
        }
    }

    #[test]
    fn line_and_paragraph_separators_are_escaped_even_in_utf8_form() {
        let mut out = String::new();
        write_str(&mut out, "a\u{2028}b\u{2029}c é", false);
        assert_eq!(out, "\"a\\u2028b\\u2029c é\"");
        assert_eq!(serde_json::from_str::<String>(&out).unwrap(), "a\u{2028}b\u{2029}c é");
        assert_eq!(out.lines().count(), 1);
    }

    fn py(v: f64) -> String {
        let mut s = String::new();
        write_py_float(&mut s, v);
        s
    }

    #[test]
    fn floats_match_python_repr() {
        let cases: &[(f64, &str)] = &[
            (0.5, "0.5"),
            (2.0, "2.0"),
            (1e-05, "1e-05"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (123456789.123, "123456789.123"),
            (1e22, "1e+22"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (950.0, "950.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1234567890123456.0, "1234567890123456.0"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-2.5, "-2.5"),
        ];
        for (v, want) in cases {
            assert_eq!(py(*v), *want, "repr({v:?})");
        }
    }

    #[test]
    fn strings_escape_like_python_json() {
        let mut s = String::new();
        write_str(&mut s, "h\u{e9}llo \u{2713} \u{1F600}\"\\\n\u{1}", true);
        assert_eq!(s, r#""h\u00e9llo \u2713 \ud83d\ude00\"\\\n\u0001""#);
        let mut s = String::new();
        write_str(&mut s, "h\u{e9}llo", false);
        assert_eq!(s, "\"h\u{e9}llo\"");
        let parsed: String = serde_json::from_str(&{
            let mut t = String::new();
            write_str(&mut t, "a\u{7f}\u{1F600}\u{0}", true);
            t
        })
        .unwrap_or_default();
        assert_eq!(parsed, "a\u{7f}\u{1F600}\u{0}");
    }
}
