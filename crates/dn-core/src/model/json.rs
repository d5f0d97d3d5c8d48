//! Small, allocation-conscious JSON writing helpers shared by the object
//! hashing code and the exporters: string escaping and Python-compatible float
//! formatting (`repr(float)`), which the object hashes depend on.

mod scan;

/// `bytes` as text when they are all ASCII (else `""`): for text dn
/// builds from ASCII (hex digits, decimal digits, ISO times) on the hot
/// path, where `str::from_utf8`'s validation cost more than building the
/// bytes did (a fifth of formatting a light span's line). The ASCII check
/// is a word-at-a-time scan of a few dozen bytes; it keeps this function
/// sound for any input. Crate-private: its callers pass only bytes dn
/// built, which the debug assertion checks in tests.
#[inline]
pub(crate) fn ascii_str(bytes: &[u8]) -> &str {
    if !bytes.is_ascii() {
        debug_assert!(false, "ascii_str called with non-ASCII bytes");
        return "";
    }
    // SAFETY: ASCII bytes are valid UTF-8, checked just above.
    #[allow(unsafe_code)]
    unsafe {
        std::str::from_utf8_unchecked(bytes)
    }
}

/// The longest text [`push_short`] copies inline.
const SHORT_MAX: usize = 32;

/// Appends `s` as `push_str` does, copied inline rather than by a call to
/// `memcpy` when it is at most [`SHORT_MAX`] bytes: two overlapping copies
/// of a fixed size. For the short texts a metric series is made of — a
/// value's digits, a step — the library calls were most of the `memcpy`
/// that took about a fifth of rendering a series in a profile.
#[inline(always)]
pub(crate) fn push_short(out: &mut String, s: &str) {
    let n = s.len();
    if n > SHORT_MAX {
        out.push_str(s);
        return;
    }
    out.reserve(n);
    let len = out.len();
    // SAFETY: `reserve` made room for `n` bytes past `len`; each copy below
    // reads within `s` and writes within `[len, len + n)` (for `n` from 16
    // to 32 the two halves overlap, and so for 8 and 4), and together they
    // write every byte of it, so `s` (whole UTF-8 text) follows the
    // buffer's text when the length is set.
    #[allow(unsafe_code)]
    unsafe {
        use std::ptr::copy_nonoverlapping as copy;
        let v = out.as_mut_vec();
        let (from, to) = (s.as_ptr(), v.as_mut_ptr().add(len));
        if n >= 16 {
            copy(from, to, 16);
            copy(from.add(n - 16), to.add(n - 16), 16);
        } else if n >= 8 {
            copy(from, to, 8);
            copy(from.add(n - 8), to.add(n - 8), 8);
        } else if n >= 4 {
            copy(from, to, 4);
            copy(from.add(n - 4), to.add(n - 4), 4);
        } else if n > 0 {
            *to = *from;
            *to.add(n / 2) = *from.add(n / 2);
            *to.add(n - 1) = *from.add(n - 1);
        }
        v.set_len(len + n);
    }
}

/// Appends `s` as a JSON string literal. With `ascii_only`, every non-ASCII
/// character is written as `\uXXXX` (surrogate pairs above U+FFFF), as
/// Python's `json.dumps` does by default.
pub fn write_str(out: &mut String, s: &str, ascii_only: bool) {
    out.reserve(s.len() + 2);
    out.push('"');
    escape::<false>(out, s, ascii_only);
    out.push('"');
}

/// Appends `s` escaped as the content of a JSON string, without the quotes:
/// what [`write_str`] writes between them (UTF-8 form).
pub fn write_escaped(out: &mut String, s: &str) {
    out.reserve(s.len());
    escape::<false>(out, s, false);
}

/// Appends `s` as a JSON string literal escaped once more as the content of
/// an outer JSON string: in one pass, what [`write_escaped`] makes of
/// [`write_str`]'s output (`a"b` → `\"a\\\"b\"`). How a task's groups,
/// JSON carried inside JSON strings, are rendered on the caller (see
/// [`NestedJson`]).
pub fn write_str_nested(out: &mut String, s: &str) {
    out.reserve(s.len() + 4);
    out.push_str("\\\"");
    escape::<true>(out, s, false);
    out.push_str("\\\"");
}

/// The content of a JSON string, unescaped: as [`write_escaped`] writes it,
/// or as any JSON writer does (Python's `\uXXXX` for every non-ASCII
/// character, `\/`). Borrowed when it holds no escape; `None` when it is
/// not such content (a bare `"`, an unknown escape, a lone surrogate).
///
/// In one pass, into one string the size of the result: a run's metric
/// series read back is tens of MB, and going through `serde_json` took a
/// quoted copy of it first (three times its size at once).
pub fn unescape(escaped: &str) -> Option<std::borrow::Cow<'_, str>> {
    let b = escaped.as_bytes();
    let Some(first) = b.iter().position(|&c| c == b'\\' || c == b'"') else {
        return Some(std::borrow::Cow::Borrowed(escaped));
    };
    let mut out = String::with_capacity(escaped.len());
    let (mut i, mut start) = (first, 0);
    while i < b.len() {
        match b[i] {
            b'"' => return None,
            b'\\' => {
                out.push_str(&escaped[start..i]);
                let c = match *b.get(i + 1)? {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        let hi = hex4(b.get(i + 2..i + 6)?)?;
                        i += 4;
                        match hi {
                            0xD800..=0xDBFF => {
                                // A pair: `\uD83D\uDE00`.
                                if b.get(i + 2..i + 4)? != b"\\u" {
                                    return None;
                                }
                                let lo = hex4(b.get(i + 4..i + 8)?)?;
                                if !(0xDC00..=0xDFFF).contains(&lo) {
                                    return None;
                                }
                                i += 6;
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            }
                            _ => char::from_u32(hi)?,
                        }
                    }
                    _ => return None,
                };
                out.push(c);
                i += 2;
                start = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&escaped[start..]);
    Some(std::borrow::Cow::Owned(out))
}

/// Four hex digits as a number.
fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0u32, |n, &c| Some(n * 16 + char::from(c).to_digit(16)?))
}

/// A piece of JSON syntax known when dn is compiled (punctuation and keys,
/// `{"name":`), in the two forms a [`JsonOut`] writes: as it is, and
/// escaped as the content of a JSON string, made by [`lit!`](crate::json::lit)
/// at compile time.
#[derive(Clone, Copy, Debug)]
pub struct Lit {
    /// As it is.
    pub plain: &'static str,
    /// Escaped as the content of a JSON string (every `"` and `\\` after a
    /// backslash).
    pub nested: &'static str,
}

/// Bytes of `s` escaped as the content of a JSON string, for [`lit!`]
/// (which only takes plain printable ASCII: a literal with anything else
/// fails to compile).
#[doc(hidden)]
pub const fn lit_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        assert!(b[i] >= 0x20 && b[i] < 0x7f, "a JSON literal is printable ASCII");
        n += if b[i] == b'"' || b[i] == b'\\' { 2 } else { 1 };
        i += 1;
    }
    n
}

/// `s` escaped as the content of a JSON string, for [`lit!`].
#[doc(hidden)]
pub const fn lit_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut j) = (0, 0);
    while i < b.len() {
        if b[i] == b'"' || b[i] == b'\\' {
            out[j] = b'\\';
            j += 1;
        }
        out[j] = b[i];
        j += 1;
        i += 1;
    }
    out
}

/// A [`Lit`] from a string literal, its escaped form made at compile time.
///
/// ```
/// let l = dn_core::json::lit!("{\"name\":");
/// assert_eq!((l.plain, l.nested), ("{\"name\":", "{\\\"name\\\":"));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __json_lit {
    ($s:expr) => {{
        const PLAIN: &str = $s;
        const BYTES: [u8; $crate::json::lit_len(PLAIN)] = $crate::json::lit_bytes(PLAIN);
        const NESTED: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(s) => s,
            Err(_) => panic!("ASCII"),
        };
        $crate::json::Lit { plain: PLAIN, nested: NESTED }
    }};
}
#[doc(inline)]
pub use crate::__json_lit as lit;

/// Where JSON is rendered: as it is ([`PlainJson`]) or escaped as the
/// content of a JSON string ([`NestedJson`]). A task's groups are JSON
/// carried in JSON strings; rendered nested on the caller, the JSONL writer
/// copies them between quotes instead of escaping them (it was more than
/// half of writing a task's line). One renderer serves both forms, so they
/// cannot drift apart: a test checks nested = [`write_escaped`] of plain.
pub trait JsonOut {
    /// The buffer, for text that holds no byte a JSON string escapes
    /// (digits, hex hashes, ISO times): the same in both forms.
    fn raw(&mut self) -> &mut String;
    /// `l` as this form writes it: its plain or its nested text.
    fn form(&self, l: Lit) -> &'static str;
    /// A piece of syntax.
    #[inline]
    fn lit(&mut self, l: Lit) {
        let text = self.form(l);
        self.raw().push_str(text);
    }
    /// A string value, quoted and escaped.
    fn string(&mut self, s: &str);
    /// A JSON text rendered before (a value's compact JSON).
    fn json(&mut self, j: &str);
}

/// JSON as it is.
pub struct PlainJson<'a>(pub &'a mut String);

/// JSON escaped as the content of a JSON string.
pub struct NestedJson<'a>(pub &'a mut String);

impl JsonOut for PlainJson<'_> {
    #[inline]
    fn raw(&mut self) -> &mut String {
        self.0
    }
    #[inline]
    fn form(&self, l: Lit) -> &'static str {
        l.plain
    }
    #[inline]
    fn string(&mut self, s: &str) {
        write_str(self.0, s, false);
    }
    #[inline]
    fn json(&mut self, j: &str) {
        self.0.push_str(j);
    }
}

impl JsonOut for NestedJson<'_> {
    #[inline]
    fn raw(&mut self) -> &mut String {
        self.0
    }
    #[inline]
    fn form(&self, l: Lit) -> &'static str {
        l.nested
    }
    #[inline]
    fn string(&mut self, s: &str) {
        write_str_nested(self.0, s);
    }
    #[inline]
    fn json(&mut self, j: &str) {
        write_escaped(self.0, j);
    }
}

/// Appends the content of a JSON string whose content is `s`, escaped once
/// ([`write_escaped`]) or, with `NESTED`, twice ([`write_str_nested`]).
#[inline]
fn escape<const NESTED: bool>(out: &mut String, s: &str, ascii_only: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        i = if ascii_only { next_special::<true>(bytes, i) } else { next_special::<false>(bytes, i) };
        let Some(&b) = bytes.get(i) else { break };
        if b >= 0x80 {
            // Non-ASCII with `ascii_only`; else `E2`, which starts U+2028 or
            // U+2029 (E2 80 A8/A9) or another character. Those two are
            // escaped even in the UTF-8 form: they are line breaks to
            // Python's `str.splitlines()` and to JavaScript; any other
            // character is plain there.
            let separator = bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9));
            if !ascii_only && !separator {
                i += 1;
                continue;
            }
            out.push_str(&s[start..i]);
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for &mut u in ch.encode_utf16(&mut units) {
                push_u_escape::<NESTED>(out, u);
            }
            i += ch.len_utf8();
        } else {
            out.push_str(&s[start..i]);
            // A table, not a `match`: that compiled to a jump table whose
            // indirect branch mispredicted on JSON dense with quotes.
            match SHORT_ESCAPE[b as usize] {
                0 => push_u_escape::<NESTED>(out, u16::from(b)),
                e => {
                    // Nested, the escape's backslash and a `"` or `\` after
                    // it are escaped again: `"` → `\\\"`, newline → `\\n`.
                    out.push_str(if NESTED { "\\\\" } else { "\\" });
                    if NESTED && (e == b'"' || e == b'\\') {
                        out.push('\\');
                    }
                    out.push(e as char);
                }
            }
            i += 1;
        }
        start = i;
    }
    out.push_str(&s[start..]);
}

/// The index, from `i`, of the next byte [`write_str`] must look at (or the
/// end): a control, `"` or `\`, and with `ASCII_ONLY` every non-ASCII byte,
/// without it the first byte of U+2028 / U+2029 (`E2`). A word of eight
/// bytes first, the position read off the lowest flagged lane (JSON dense
/// with quotes costs no byte loop and no mispredicted branch per byte); then
/// blocks of 32 bytes tested at once, which vectorizes, over long plain runs;
/// then two words a step. The last few bytes are read as one word too.
///
/// Measured on one task line's strings (the rendered groups a JSONL line
/// escapes), against flagging words yes/no and then finding the byte one at
/// a time: 0.95×; a 5 KB plain payload 0.94×; non-ASCII text 0.65× (only
/// `E2` is looked at now, where every non-ASCII byte was); its `ascii_only`
/// form 0.36× (with [`push_u_escape`]). The 32-byte blocks, against two
/// words a step, best of seven rounds: a 5 KB plain payload 0.50× (12 bytes
/// a nanosecond), its `ascii_only` form 0.37–0.52×; dense JSON and non-ASCII
/// text within noise (64-byte blocks: no faster).
///
/// Where the CPU has AVX2, long runs are scanned 64 bytes a step instead
/// (see `json/scan.rs`, with its figures); the 32-byte blocks then take only
/// what is left under 64 bytes.
#[inline(always)]
fn next_special<const ASCII_ONLY: bool>(bytes: &[u8], i: usize) -> usize {
    next_special_from::<ASCII_ONLY, true>(bytes, i)
}

/// [`next_special`], with the AVX2 scan (`SIMD`) or without it (the
/// portable path, what a CPU without AVX2 runs: tested on every CPU).
#[inline(always)]
fn next_special_from<const ASCII_ONLY: bool, const SIMD: bool>(bytes: &[u8], mut i: usize) -> usize {
    let lanes = |w: [u8; 8]| special_lanes::<ASCII_ONLY>(u64::from_le_bytes(w));
    let word = |i: usize| bytes.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
    // One word first: in JSON dense with quotes the next one is this close.
    if let Some(w) = word(i) {
        let m = lanes(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if SIMD && bytes.len().saturating_sub(i) >= 64 {
        match scan::find_in_blocks::<ASCII_ONLY>(bytes, i) {
            Ok(at) => return at,
            Err(at) => i = at,
        }
    }
    // Long plain runs: 32 bytes a step, a test the compiler turns into a few
    // vector instructions (SSE2 on x86_64), until a block holds a byte to
    // look at; the words below then find it.
    while let Some(block) = bytes.get(i..i + 32).and_then(|b| <&[u8; 32]>::try_from(b).ok()) {
        if block.iter().fold(false, |any, &b| any | looks_at_bitwise::<ASCII_ONLY>(b)) {
            break;
        }
        i += 32;
    }
    // Then sixteen bytes a step, one test for both words.
    while let (Some(w0), Some(w1)) = (word(i), word(i + 8)) {
        let (m0, m1) = (lanes(w0), lanes(w1));
        if m0 | m1 != 0 {
            return if m0 != 0 {
                i + (m0.trailing_zeros() / 8) as usize
            } else {
                i + 8 + (m1.trailing_zeros() / 8) as usize
            };
        }
        i += 16;
    }
    if let Some(w) = word(i) {
        let m = lanes(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    if i >= bytes.len() {
        return bytes.len();
    }
    // Fewer than eight bytes left: the last eight of the string as one word,
    // shifted so that lane 0 is byte `i`, the lanes past the end filled with
    // plain bytes (no copy through memory, which stalled the load after it).
    let base = bytes.len().saturating_sub(8);
    let Some(last) = word(base) else {
        // A string shorter than eight bytes.
        return bytes[i..].iter().position(|&b| looks_at::<ASCII_ONLY>(b)).map_or(bytes.len(), |k| i + k);
    };
    let shift = 8 * (i - base) as u32;
    let x = (u64::from_le_bytes(last) >> shift) | (ONES * u64::from(b'a')).checked_shl(64 - shift).unwrap_or(0);
    let m = special_lanes::<ASCII_ONLY>(x);
    if m == 0 { bytes.len() } else { i + (m.trailing_zeros() / 8) as usize }
}

/// Whether [`write_str`] must look at byte `b` (see [`next_special`]).
#[inline]
fn looks_at<const ASCII_ONLY: bool>(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || if ASCII_ONLY { b >= 0x80 } else { b == 0xE2 }
}

/// [`looks_at`] without short-circuits, so that a loop over a block of
/// bytes vectorizes.
#[inline(always)]
fn looks_at_bitwise<const ASCII_ONLY: bool>(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\') | if ASCII_ONLY { b >= 0x80 } else { b == 0xE2 }
}

/// Appends `\uXXXX` for the UTF-16 unit `u` (`\\uXXXX` `NESTED`), lowercase
/// as Python writes it (not through `core::fmt`: measured, that made a
/// non-ASCII text's `ascii_only` form about four times slower).
#[inline]
fn push_u_escape<const NESTED: bool>(out: &mut String, u: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(if NESTED { "\\\\u" } else { "\\u" });
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((u >> shift) & 0xF)]));
    }
}

/// For each ASCII byte a JSON string escapes with a backslash and one
/// character, that character (`"`, `\\`, `n`, `r`, `t`, `b`, `f`); 0 for the
/// other controls (written `\\u00XX`) and for bytes written as they are.
static SHORT_ESCAPE: [u8; 128] = {
    let mut t = [0u8; 128];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte lane of `x` that holds a byte [`looks_at`]
/// flags, possibly with lanes above a flagged one flagged too (the word
/// tests of "Bit Twiddling Hacks", `has_less` and `has_zero`): the lowest
/// flagged lane is exact, which is all [`next_special`] reads.
#[inline]
fn special_lanes<const ASCII_ONLY: bool>(x: u64) -> u64 {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let quote = has_zero(x ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
    let other = if ASCII_ONLY { x & HIGH } else { has_zero(x ^ (ONES * 0xE2)) };
    control | quote | backslash | other
}

/// Appends `v` in decimal, as JSON and Python write an integer (no
/// allocation, unlike `to_string`: the JSONL writer writes one for every
/// integer attribute).
pub fn write_int(out: &mut String, v: i128) {
    let mut buf = itoa::Buffer::new();
    push_short(out, int_text(&mut buf, v));
}

/// The decimal digits of `v` (with its sign), in `buf`: the one integer
/// formatter, for JSON, the JSONL lines and an integer object's hash
/// (`object.rs`). itoa's digits need no UTF-8 check (a `from_utf8` of the
/// digits was a third of writing a metric step); 64-bit division when the
/// value fits.
pub(crate) fn int_text(buf: &mut itoa::Buffer, v: i128) -> &str {
    match i64::try_from(v) {
        Ok(x) => buf.format(x),
        Err(_) => buf.format(v),
    }
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
    // Integral values below 1e16 (counts, epochs, accuracy 1.0): the integer
    // and `.0`, as both zmij and Python write them (zero, with its sign, goes
    // the general way).
    // Integral by a round trip through `i64` (exact below 1e16), where
    // `fract` was a call to libm's `trunc` for every value.
    if v != 0.0 && v.abs() < 1e16 && (v as i64) as f64 == v {
        write_int(out, v as i128);
        out.push_str(".0");
        return;
    }
    // zmij's shortest round-trip digits; like CPython's dtoa it takes the
    // even candidate when two are equally close (checked against CPython's
    // own output in tests/float_repr.rs). Only its digits and exponent are
    // used. zmij replaced ryu here: the same text from 1e-4 to 1e16 (checked
    // on 60 million values, random bits and metric-like series), 1.3x as
    // fast on 17-digit values such as `1/(i+1)` and 3x on short ones such as
    // `i*0.5` (28 -> 21 ns and 50 -> 17 ns a value); beyond that range it
    // writes `e+16` where ryu wrote `e16`, which the exponent path takes.
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(v);
    // Fast paths, most values (measured: 102 → about 30 ns a value, the bulk
    // of rendering a metric series), chosen by magnitude before the text is
    // scanned. From 1e-4 up to 1e16 both write fixed notation digit for digit
    // (`0.00015`, `12.5`, `1000000000000000.0`).
    let magnitude = v.abs();
    if (1e-4..1e16).contains(&magnitude) {
        push_short(out, text);
        return;
    }
    let (neg, unsigned) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    // From 1e-5 to 1e-4 zmij writes `0.0000` and the digits (the first not
    // zero), Python `d.ddde-05`: a loss or learning rate in that range is
    // common, and the general path costs several times this.
    if (1e-5..1e-4).contains(&magnitude) {
        if let Some(d) = unsigned.strip_prefix("0.0000").filter(|d| d.bytes().next().is_some_and(|c| c != b'0')) {
            if neg {
                out.push('-');
            }
            out.push_str(&d[..1]);
            if d.len() > 1 {
                out.push('.');
                out.push_str(&d[1..]);
            }
            out.push_str("e-05");
            return;
        }
    }
    // Below 1e-5 and from 1e16 zmij writes scientific notation, as Python
    // does, with the same mantissa; only the exponent may differ (`e-5` →
    // `e-05`; `e+16` as it is, `e16` → `e+16`). Zero goes the general way
    // below.
    if let Some(e) = text.find('e') {
        out.push_str(&text[..e]);
        let exp = &text[e + 1..];
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ("e-", d),
            None => ("e+", exp.strip_prefix('+').unwrap_or(exp)),
        };
        out.push_str(sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let text = unsigned;
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
    let d = ascii_str(&digits[..n]);
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
        out.push_str(if e < 0 { "e-" } else { "e+" });
        if e.abs() < 10 {
            out.push('0');
        }
        write_int(out, i128::from(e.abs()));
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
    serde_json::from_str(&python_json_as_json(s))
}

/// Python's JSON as JSON: the literals `NaN`, `Infinity` and `-Infinity`
/// outside strings replaced by `null` (borrowed when there are none), for
/// any reader of [`parse_python_json`]'s input.
pub fn python_json_as_json(s: &str) -> std::borrow::Cow<'_, str> {
    if !(s.contains("NaN") || s.contains("Infinity")) {
        return std::borrow::Cow::Borrowed(s);
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
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {

    /// `push_short` appends what `push_str` appends, at every length it
    /// copies inline and past it, ASCII or not, into a buffer with room to
    /// spare or none.
    #[test]
    fn push_short_appends_what_push_str_appends() {
        let pieces = ["a", "é", "😀", "\\\"", "0123456789"];
        for len in 0..=40 {
            let mut text = String::new();
            let mut k = 0;
            while text.len() < len {
                let p = pieces[k % pieces.len()];
                if text.len() + p.len() > len {
                    text.push('x');
                } else {
                    text.push_str(p);
                }
                k += 1;
            }
            for prefix in ["", "[", "{\"values\":[1.5,"] {
                for spare in [0, 1, 64] {
                    let mut want = String::with_capacity(prefix.len() + spare);
                    want.push_str(prefix);
                    let mut got = want.clone();
                    got.reserve_exact(spare);
                    want.push_str(&text);
                    super::push_short(&mut got, &text);
                    assert_eq!(got, want, "{text:?} after {prefix:?}, {spare} spare");
                    super::push_short(&mut got, &text);
                    want.push_str(&text);
                    assert_eq!(got, want, "twice: {text:?}");
                }
            }
        }
    }
    use proptest::prelude::*;

    proptest! {
        /// Whatever wrote the escapes (dn, `serde_json`, Python's
        /// `ensure_ascii`), unescaping gives the text back.
        #[test]
        fn unescape_reads_back_every_escaped_form(s in "\\PC*|[\"\\\\/\u{0}-\u{1f}a\u{e9}\u{1F600}]{0,12}") {
            let mut dn = String::new();
            super::write_escaped(&mut dn, &s);
            let mut ascii = String::new();
            super::write_str(&mut ascii, &s, true);
            let serde = serde_json::to_string(&s).unwrap();
            let slashed = serde.replace('/', "\\/");
            for quoted in [format!("\"{dn}\""), ascii, serde, slashed] {
                let inner = &quoted[1..quoted.len() - 1];
                let expect: Option<String> = serde_json::from_str(&quoted).ok();
                if let Some(expect) = expect {
                    prop_assert_eq!(super::unescape(inner).map(|c| c.into_owned()), Some(expect), "{}", inner);
                }
            }
        }

        /// On any text, unescaping agrees with `serde_json` reading it as a
        /// string's content, but for raw control characters, which it lets
        /// through (a line dn reads back is never refused for one).
        #[test]
        fn unescape_agrees_with_serde_json(s in "[\\\\\"ua0dDbfnrt/\u{e9}]{0,16}") {
            let theirs: Option<String> = serde_json::from_str(&format!("\"{s}\"")).ok();
            prop_assert_eq!(super::unescape(&s).map(|c| c.into_owned()), theirs);
        }
    }

    #[test]
    fn unescape_refuses_what_is_not_string_content() {
        for bad in [r#"a"b"#, r"a\", r"\x", r"\u12", r"\ud83d", r"\ud83d\u0041", r"\ude00"] {
            assert_eq!(super::unescape(bad), None, "{bad}");
        }
        assert_eq!(super::unescape(r"\ud83d\ude00\u00e9\/").as_deref(), Some("\u{1F600}\u{e9}/"));
        assert!(matches!(super::unescape("plain"), Some(std::borrow::Cow::Borrowed("plain"))));
    }

    #[test]
    fn ascii_bytes_read_as_the_same_text() {
        let all: Vec<u8> = (0u8..0x80).collect();
        assert_eq!(super::ascii_str(&all).as_bytes(), &all[..]);
        assert_eq!(super::ascii_str(b""), "");
    }

    /// Non-ASCII bytes are a bug in dn's caller: an empty string in a
    /// release build (never invalid UTF-8), a failed assertion in tests.
    #[test]
    #[should_panic(expected = "non-ASCII")]
    #[cfg(debug_assertions)]
    fn non_ascii_bytes_fail_the_debug_assertion() {
        let _ = super::ascii_str("é".as_bytes());
    }

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
    fn the_word_test_finds_the_first_byte_that_needs_a_look_in_every_position() {
        let special = looks_at::<true>;
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut w = *b"abcdefgh";
                w[pos] = b;
                let m = special_lanes::<true>(u64::from_le_bytes(w));
                assert_eq!(m != 0, special(b), "byte {b:#04x} at {pos}");
                let m8 = special_lanes::<false>(u64::from_le_bytes(w));
                assert_eq!(m8 != 0, looks_at::<false>(b), "byte {b:#04x} at {pos}, UTF-8 form");
                if m8 != 0 {
                    assert_eq!(m8.trailing_zeros() / 8, pos as u32, "byte {b:#04x} at {pos}, UTF-8 form");
                }
                if special(b) {
                    assert_eq!(m.trailing_zeros() / 8, pos as u32, "byte {b:#04x} at {pos}");
                }
                // A second flagged byte after it (the case where lanes above
                // a flagged one may be flagged wrongly) leaves the first found.
                for later in pos + 1..8 {
                    let mut w2 = w;
                    w2[later] = 0x00;
                    let m2 = special_lanes::<true>(u64::from_le_bytes(w2));
                    let first = if special(b) { pos } else { later };
                    assert_eq!(m2.trailing_zeros() / 8, first as u32, "byte {b:#04x} at {pos}, NUL at {later}");
                }
            }
        }
        for (s, ascii, utf8) in [
            ("", 0, 0),
            ("abc", 3, 3),
            ("ab\"", 2, 2),
            ("abcdefghij\"k", 10, 10),
            ("abcdefgh", 8, 8),
            ("é", 0, 2),
            ("abcdefghijklmnopqrstu\u{2028}", 21, 21),
            ("abcdefghijklmnopqrstuvwxyz\n", 26, 26),
        ] {
            assert_eq!(next_special::<true>(s.as_bytes(), 0), ascii, "{s:?}");
            assert_eq!(next_special::<false>(s.as_bytes(), 0), utf8, "{s:?}");
        }
        // Every byte value at every position of the AVX2 scan's first two
        // blocks and the portable scan's 32-byte blocks after them, found
        // alike by both (and where `looks_at` says).
        for pos in 0..150 {
            for b in 0..=255u8 {
                let mut v = vec![b'a'; 160];
                v[pos] = b;
                for (found, ascii_only) in [
                    (next_special_from::<true, true>(&v, 0), true),
                    (next_special_from::<true, false>(&v, 0), true),
                    (next_special_from::<false, true>(&v, 0), false),
                    (next_special_from::<false, false>(&v, 0), false),
                ] {
                    let flagged = if ascii_only { looks_at::<true>(b) } else { looks_at::<false>(b) };
                    assert_eq!(found, if flagged { pos } else { v.len() }, "byte {b:#04x} at {pos}");
                }
            }
        }
        // Every position of a long plain run: the AVX2 blocks, the 32-byte
        // blocks, the sixteen-byte steps and the tail word each find the byte.
        for len in 0..200 {
            for pos in 0..len {
                for (special, in_utf8) in
                    [("\"", true), ("\\", true), ("\n", true), ("\u{1}", true), ("é", false), ("\u{2028}", true)]
                {
                    let s = format!("{}{special}{}", "a".repeat(pos), "b".repeat(len - pos));
                    assert_eq!(next_special::<true>(s.as_bytes(), 0), pos, "{s:?}");
                    let utf8 = if in_utf8 { pos } else { s.len() };
                    assert_eq!(next_special::<false>(s.as_bytes(), 0), utf8, "{s:?}");
                    for ascii_only in [false, true] {
                        let mut out = String::new();
                        write_str(&mut out, &s, ascii_only);
                        assert_eq!(out, reference(&s, ascii_only), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn integers_are_written_as_to_string_writes_them() {
        let (max64, min64) = (i128::from(i64::MAX), i128::from(i64::MIN));
        for v in [0, 7, -7, 10, 1_000_000, max64, min64, max64 + 1, min64 - 1, -1, i128::MAX, i128::MIN] {
            let mut out = String::from("x");
            write_int(&mut out, v);
            assert_eq!(out, format!("x{v}"));
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
            (-3.0, "-3.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e16 - 2.0, "9999999999999998.0"),
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
