//! Trace, span, run and task identifiers.
//!
//! Ids come from a per-thread `wyrand` generator seeded from the OS-randomised
//! `RandomState`, so creating one takes a few nanoseconds and no lock.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::num::{NonZeroU64, NonZeroU128};

use crate::text::SharedStr;

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0),
    );
    let local = 0u8;
    h.write_usize(&local as *const u8 as usize);
    h.finish() | 1
}

/// Next pseudo-random 64-bit value (wyrand).
pub(crate) fn next_u64() -> u64 {
    RNG.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = (x as u128).wrapping_mul((x ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// Appends `bytes` as lowercase hex digits (used by `Display` and by the
/// JSONL writer, which skips `core::fmt` for the ids of every line).
fn push_hex(out: &mut impl fmt::Write, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 32];
    let n = encode_hex(bytes, &mut buf);
    // The buffer only holds ASCII hex digits.
    out.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
}

/// Writes `bytes` as lowercase hex digits into `out`, as many as fit (two
/// per byte); returns how many digits it wrote. The one hex encoder: ids,
/// and the object hashes of `object.rs`.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let len = bytes.len().min(out.len() / 2);
    let (bytes, out) = (&bytes[..len], &mut out[..2 * len]);
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let (bytes, out) = {
        let done = encode_hex_sse2(bytes, out);
        (&bytes[done..], &mut out[2 * done..])
    };
    // Four bytes at a time as one word (a span id is two words, a trace id
    // four): its eight nibbles spread into the bytes of a u64 and turned into
    // digits arithmetically, where a table lookup per nibble was most of
    // writing an id on the writer thread.
    let mut words = bytes.chunks_exact(4);
    let mut digits = out.chunks_exact_mut(8);
    for (w, d) in (&mut words).zip(&mut digits) {
        d.copy_from_slice(&hex_word(u32::from_be_bytes([w[0], w[1], w[2], w[3]])));
    }
    let rest = words.remainder();
    for (b, pair) in rest.iter().zip(digits.into_remainder().chunks_exact_mut(2)) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    2 * len
}

/// Eight bytes at a time with SSE2 (every x86_64 CPU has it): the nibbles
/// split and interleaved in one vector, turned into digits by one compare
/// and two adds, sixteen digits stored at once; returns how many bytes it
/// encoded (the whole groups of eight). Measured with callgrind on the
/// JSONL writer: a trace id's digits took 182 instructions and a span id's
/// about 100 with the word code below (a tenth of formatting a light span's
/// line, three ids a line); and a task's four object hashes are encoded on
/// the caller.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn encode_hex_sse2(bytes: &[u8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_loadl_epi64, _mm_set1_epi8, _mm_srli_epi16,
        _mm_storeu_si128, _mm_unpacklo_epi8,
    };
    let mut done = 0;
    for (group, digits) in bytes.chunks_exact(8).zip(out.chunks_exact_mut(16)) {
        // SAFETY: SSE2 is enabled for this target (the cfg above); the load
        // reads the 8 bytes of `group` and the store writes the 16 bytes of
        // `digits`, both unaligned operations on slices of exactly that size.
        #[allow(unsafe_code)]
        unsafe {
            let v = _mm_loadl_epi64(group.as_ptr().cast::<__m128i>());
            let low_nibbles = _mm_set1_epi8(0x0F);
            let hi = _mm_and_si128(_mm_srli_epi16(v, 4), low_nibbles);
            let lo = _mm_and_si128(v, low_nibbles);
            // High nibble first: byte 2i is byte i's high nibble.
            let n = _mm_unpacklo_epi8(hi, lo);
            // '0' + nibble, and 'a' - '0' - 10 = 39 more for a letter.
            let letters = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(39));
            let ascii = _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8(b'0' as i8)), letters);
            _mm_storeu_si128(digits.as_mut_ptr().cast::<__m128i>(), ascii);
        }
        done += 8;
    }
    done
}

/// The eight lowercase hex digits of `v`, most significant first.
pub(crate) fn hex_word(v: u32) -> [u8; 8] {
    // Spread the nibbles so that nibble i (from the least significant) is
    // byte i of `x`.
    let mut x = u64::from(v);
    x = ((x & 0xFFFF_0000) << 16) | (x & 0xFFFF);
    x = ((x & 0x0000_FF00_0000_FF00) << 8) | (x & 0x0000_00FF_0000_00FF);
    x = ((x & 0x00F0_00F0_00F0_00F0) << 4) | (x & 0x000F_000F_000F_000F);
    // 1 in each byte whose nibble is 10 or more (adding 6 carries into bit 4).
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    // '0' + nibble, and 'a' - '0' - 10 = 39 more for a letter.
    let ascii = x + 0x3030_3030_3030_3030 + letters * 39;
    ascii.to_be_bytes()
}

fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for i in 0..N {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// A 128-bit trace id, never zero. Displays as 32 lowercase hex digits.
///
/// Non-zero by type, so `Option<TraceId>` is no larger than the id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

impl TraceId {
    /// A new random trace id.
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::from_u128(((next_u64() as u128) << 64) | next_u64() as u128) {
                return id;
            }
        }
    }
    /// The id from its integer value; `None` for zero (invalid in W3C and OTel).
    pub fn from_u128(v: u128) -> Option<Self> {
        NonZeroU128::new(v).map(Self)
    }
    /// The integer value.
    pub fn to_u128(self) -> u128 {
        self.0.get()
    }
    /// Big-endian bytes, as on the wire.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }
    /// Parses 32 hex digits; `None` for anything else or for all zeros.
    pub fn from_hex(s: &str) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(parse_hex::<16>(s)?))
    }
    /// Appends the 32 hex digits (what `Display` writes, without `core::fmt`).
    pub fn write_hex(self, out: &mut String) {
        let mut buf = [0u8; 32];
        encode_hex(&self.to_bytes(), &mut buf);
        out.push_str(crate::json::ascii_str(&buf));
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        push_hex(f, &self.to_bytes())
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// A 64-bit span id, never zero. Displays as 16 lowercase hex digits.
///
/// Non-zero by type, so `Option<SpanId>` is 8 bytes, not 16: a task's
/// parent span and parent task span are two of them (see `TaskInner`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl SpanId {
    /// A new random span id.
    pub fn random() -> Self {
        loop {
            if let Some(id) = Self::from_u64(next_u64()) {
                return id;
            }
        }
    }
    /// The id from its integer value; `None` for zero.
    pub fn from_u64(v: u64) -> Option<Self> {
        NonZeroU64::new(v).map(Self)
    }
    /// The integer value.
    pub fn to_u64(self) -> u64 {
        self.0.get()
    }
    /// Big-endian bytes, as on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }
    /// Parses 16 hex digits; `None` for anything else or for all zeros.
    pub fn from_hex(s: &str) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(parse_hex::<8>(s)?))
    }
    /// Appends the 16 hex digits (what `Display` writes, without `core::fmt`).
    pub fn write_hex(self, out: &mut String) {
        let mut buf = [0u8; 16];
        encode_hex(&self.to_bytes(), &mut buf);
        out.push_str(crate::json::ascii_str(&buf));
    }
    /// The 16 hex digits as ASCII bytes, on the stack (no allocation).
    pub fn hex_digits(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        encode_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        push_hex(f, &self.to_bytes())
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

fn random_uuid() -> uuid::Uuid {
    let v = ((next_u64() as u128) << 64) | next_u64() as u128;
    uuid::Builder::from_random_bytes(v.to_be_bytes()).into_uuid()
}

/// A new run id: a uuid4 as 32 hex digits without dashes (`docs/format.md`, "Ids and names").
pub fn new_run_id() -> String {
    new_run_id_in(&mut [0u8; uuid::fmt::Simple::LENGTH]).to_string()
}

/// A new run id ([`new_run_id`]) as a shared string: its text made on the
/// stack and copied once into the shared allocation (a `String` first was
/// a second allocation, and its free).
pub(crate) fn new_run_id_shared() -> SharedStr {
    SharedStr::Shared(std::sync::Arc::from(new_run_id_in(&mut [0u8; uuid::fmt::Simple::LENGTH])))
}

/// A new run id written into `buf`: the one place its form is made.
fn new_run_id_in(buf: &mut [u8; uuid::fmt::Simple::LENGTH]) -> &str {
    random_uuid().simple().encode_lower(buf)
}

/// A new task id ([`new_task_id`]) as a shared string, as
/// [`new_run_id_shared`] makes a run id.
pub(crate) fn new_task_id_shared() -> SharedStr {
    let bytes = new_task_id_bytes();
    // The bytes are ASCII hex digits and dashes.
    SharedStr::Shared(std::sync::Arc::from(std::str::from_utf8(&bytes).unwrap_or_default()))
}

/// A new task id: a dashed uuid4 (`docs/format.md`, "Ids and names").
pub fn new_task_id() -> String {
    String::from_utf8_lossy(&new_task_id_bytes()).into_owned()
}

/// A new task id as its 36 ASCII bytes, without allocating.
pub(crate) fn new_task_id_bytes() -> [u8; 36] {
    dashed(random_uuid().into_bytes())
}

fn dashed(b: [u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut j = 0;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            j += 1;
        }
        out[j] = HEX[(byte >> 4) as usize];
        out[j + 1] = HEX[(byte & 0xf) as usize];
        j += 2;
    }
    out
}

/// The task id of the task span `span` in trace `trace`: a dashed uuid4
/// made from the two ids, so that a task read back from its line (which
/// carries both) has the id it had while open.
pub(crate) fn task_id_bytes_for(trace: TraceId, span: SpanId) -> [u8; 36] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&span.to_bytes());
    b[8..].copy_from_slice(&trace.to_bytes()[8..]);
    dashed(uuid::Builder::from_random_bytes(b).into_uuid().into_bytes())
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brisk", "calm", "clever", "crimson", "daring", "eager", "fancy", "gentle", "golden", "hidden",
    "honest", "jolly", "keen", "lively", "lucky", "mellow", "nimble", "proud", "quiet", "rapid", "silent", "silver",
    "steady", "swift", "tidy", "vivid", "wise", "young",
];
const NOUNS: &[&str] = &[
    "badger", "beacon", "canyon", "comet", "falcon", "forest", "galaxy", "harbor", "island", "jaguar", "lagoon",
    "meadow", "nebula", "otter", "panda", "pebble", "quartz", "raven", "river", "summit", "thunder", "tiger", "valley",
    "walrus", "willow", "zephyr",
];

/// A generated run name `<adjective>-<noun>-<100..999>` for runs created without one.
pub fn generated_run_name() -> String {
    let a = ADJECTIVES[(next_u64() % ADJECTIVES.len() as u64) as usize];
    let n = NOUNS[(next_u64() % NOUNS.len() as u64) as usize];
    format!("{a}-{n}-{}", 100 + next_u64() % 900)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_written_as_the_byte_table_writes_it() {
        let table = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b; 5]).collect();
        // Every byte value in every lane of the eight-byte groups, and
        // groups followed by words and single bytes.
        samples.extend((0..=255u8).map(|b| vec![b; 19]));
        samples.extend((0..32u8).map(|k| (0..=255u8).map(|b| b.wrapping_add(k)).collect()));
        for len in 0..=20 {
            let mut v = Vec::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            samples.push(v);
        }
        for bytes in samples {
            let mut out = [0u8; 512];
            let n = encode_hex(&bytes, &mut out);
            assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), table(&bytes), "{bytes:?}");
        }
        // As many as fit.
        let mut short = [0u8; 5];
        assert_eq!(encode_hex(&[0xab, 0xcd, 0xef], &mut short), 4);
        assert_eq!(&short[..4], b"abcd");
        assert_eq!(SpanId::from_u64(0x0123_4567_89ab_cdef).unwrap().to_string(), "0123456789abcdef");
    }

    #[test]
    fn ids_are_hex_and_round_trip() {
        let t = TraceId::random();
        let s = t.to_string();
        assert_eq!(s.len(), 32);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(TraceId::from_hex(&s), Some(t));
        let sp = SpanId::random();
        assert_eq!(SpanId::from_hex(&sp.to_string()), Some(sp));
        assert_eq!(SpanId::from_hex("0000000000000000"), None);
        assert_eq!(TraceId::from_hex("zz"), None);
        assert_eq!(SpanId::from_hex("00000000000000g1"), None);
        let known = SpanId::from_u64(0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(known.to_string(), "0123456789abcdef");
        assert_eq!(&known.hex_digits(), b"0123456789abcdef");
        assert_eq!(std::str::from_utf8(&sp.hex_digits()).unwrap(), sp.to_string());
        assert_eq!(TraceId::from_u128(0xff << 120).unwrap().to_string(), format!("ff{}", "0".repeat(30)));
    }

    #[test]
    fn run_and_task_ids_have_the_python_shapes() {
        let r = new_run_id();
        assert_eq!(r.len(), 32);
        assert!(!r.contains('-'));
        let t = new_task_id();
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "4", "uuid version 4");
        // The shared forms the tracer makes have the same shapes: a uuid4,
        // lowercase, without and with dashes.
        let (r, t) = (new_run_id_shared(), new_task_id_shared());
        assert_eq!(r.len(), 32);
        assert!(r.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{r}");
        assert_eq!(&r[12..13], "4", "uuid version 4");
        assert_ne!(r, new_run_id_shared());
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "4", "uuid version 4");
        assert!(t.bytes().all(|b| b == b'-' || (b.is_ascii_hexdigit() && !b.is_ascii_uppercase())), "{t}");
        let name = generated_run_name();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3);
        let n: u32 = parts[2].parse().unwrap_or(0);
        assert!((100..=999).contains(&n));
    }

    #[test]
    fn ids_differ_across_threads() {
        let a = std::thread::spawn(SpanId::random).join().ok();
        let b = SpanId::random();
        assert_ne!(a, Some(b));
    }
}
