//! Objects: how a logged value becomes data bytes, a schema and hashes
//! (`docs/format.md`, "Objects"). Values enter through `serde::Serialize`; the result equals the
//! Python SDK's hashes byte for byte for every value whose lists are in the
//! order Python would store them.

use std::fmt;

use compact_str::CompactString;
use serde::ser::{self, Serialize};
use sha1::{Digest, Sha1};

pub use crate::bigint::BigInt;
use crate::json::{write_json_float, write_py_float, write_str};

/// The longest message SHA-1 pads into one block (a `0x80` byte and the
/// 8-byte length follow it).
const ONE_BLOCK_MAX: usize = 55;
/// SHA-1's initial hash value (FIPS 180-4, 5.3.1).
const SHA1_INITIAL_STATE: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// A 16-hex-digit hash (data hash, schema hash or object hash).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash16([u8; 16]);

impl Hash16 {
    /// The all-zero hash used for `None` data and the empty schema.
    pub const ZERO: Hash16 = Hash16(*b"0000000000000000");

    /// First 16 hex digits of the SHA-1 of `bytes`.
    ///
    /// Most of what is hashed fits one 64-byte block: a number's digits, a
    /// short string's JSON, every object hash's `"<data>:<schema>"` (33
    /// bytes); a task with one input and one output hashes four such. Those
    /// are padded here and go straight to SHA-1's compression function,
    /// without the streaming hasher's buffering and finalisation around it.
    pub fn sha1_prefix(bytes: &[u8]) -> Self {
        let mut first = [0u8; 8];
        if bytes.len() <= ONE_BLOCK_MAX {
            let mut block = sha1::digest::generic_array::GenericArray::default();
            block[..bytes.len()].copy_from_slice(bytes);
            block[bytes.len()] = 0x80;
            block[56..].copy_from_slice(&(bytes.len() as u64 * 8).to_be_bytes());
            let mut state = SHA1_INITIAL_STATE;
            sha1::compress(&mut state, std::slice::from_ref(&block));
            first[..4].copy_from_slice(&state[0].to_be_bytes());
            first[4..].copy_from_slice(&state[1].to_be_bytes());
        } else {
            first.copy_from_slice(&Sha1::digest(bytes)[..8]);
        }
        let mut out = [0u8; 16];
        crate::ids::encode_hex(&first, &mut out);
        Hash16(out)
    }
    /// Parses 16 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let b: [u8; 16] = s.as_bytes().try_into().ok()?;
        b.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)).then_some(Hash16(b))
    }
    /// The hash as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII: hex digits, or a placeholder's `~`s.
        crate::json::ascii_str(&self.0)
    }
    /// The stand-in a task's data keeps, as the key of its `n`th stored
    /// object, for the hash of a value kept unhashed
    /// ([`LoggedValue::Unhashed`]) until its groups are rendered:
    /// `~~~~~~~~` and `n` in 8 hex digits, so placeholders sort as their
    /// objects were stored, and never equal a hash (no `~` is a hex digit).
    pub fn placeholder(n: usize) -> Self {
        let mut out = [b'~'; 16];
        out[8..].copy_from_slice(&crate::ids::hex_word(n as u32));
        Hash16(out)
    }
    /// Whether this is a [`Hash16::placeholder`], not a hash.
    pub fn is_placeholder(&self) -> bool {
        self.0[0] == b'~'
    }
}

impl fmt::Display for Hash16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Hash16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash16({})", self.as_str())
    }
}
impl Serialize for Hash16 {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A value as the object model sees it, captured from `serde::Serialize`.
#[derive(Clone, Debug, PartialEq)]
pub enum CapturedValue {
    /// `None`, `()`, unit structs.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer type.
    Int(i128),
    /// An integer beyond `i128` (a [`BigInt`], a `u128` above `i128::MAX`, or
    /// `serde_json`'s arbitrary-precision number): its decimal digits.
    BigInt(String),
    /// A float (non-finite values are kept).
    Float(f64),
    /// A string or char.
    Str(String),
    /// Raw bytes (`serialize_bytes`), stored base64-encoded.
    Bytes(Vec<u8>),
    /// Sequences, tuples, sets.
    Seq(Vec<CapturedValue>),
    /// Maps and structs, keys in the order given.
    Map(Vec<(String, CapturedValue)>),
}

/// The result of serializing one value: everything the span needs to record
/// and reference it.
#[derive(Clone, Debug)]
pub struct SerializedValue {
    /// `sha1(data bytes)[:16]`, or zeros for `None`.
    pub data_hash: Hash16,
    /// `sha1(schema JSON)[:16]`, or zeros for `{}`.
    pub schema_hash: Hash16,
    /// `sha1("<data_hash>:<schema_hash>")[:16]`: the object's id.
    pub hash: Hash16,
    /// The schema as compact JSON (`{}` for primitives).
    pub schema_json: std::borrow::Cow<'static, str>,
    /// The value as a task stores it: a string as its text
    /// ([`StoredValue::Text`], the captured `String` itself, so a long
    /// string is not escaped into a second copy before its line is
    /// rendered), any other value as its compact JSON
    /// ([`StoredValue::Inline`], held inline up to 24 bytes; non-finite
    /// floats as `NaN` / `Infinity`, what Python hashes). Never
    /// [`StoredValue::Uri`]: offloading makes that. Its JSON text:
    /// [`SerializedValue::value_json`].
    pub value: StoredValue,
    /// Length of the data bytes (decides offloading of large values).
    pub data_len: usize,
    /// The data bytes themselves, kept only when they are over
    /// [`OFFLOAD_THRESHOLD`] so a [`ValueOffload`] can upload them — and
    /// not for a string, whose bytes are its [`StoredValue::Text`]
    /// ([`SerializedValue::offload_data`] gives either).
    pub large_data: Option<Vec<u8>>,
}

/// How an object's value is held.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue {
    /// Inline compact JSON (`type: "val"`), itself held inline up to 24 bytes.
    Inline(CompactString),
    /// A string value as its text (`type: "val"`), written as the JSON
    /// string `Inline` would hold for it when its line is rendered: a long
    /// string is escaped once, into the line, not first into a JSON text of
    /// its own.
    Text(String),
    /// Offloaded to the store (`type: "uri"`).
    Uri {
        /// `s3://...` location.
        uri: String,
        /// Data size in bytes.
        size: u64,
    },
}

impl StoredValue {
    /// Bytes of text it renders to, about.
    pub fn len(&self) -> usize {
        match self {
            StoredValue::Inline(v) => v.len(),
            StoredValue::Text(s) => s.len() + 2,
            StoredValue::Uri { uri, .. } => uri.len() + 24,
        }
    }
    /// The value as it appears in `dreadnode.objects`: compact JSON for
    /// `Inline` and `Text`, the URI as a JSON string for `Uri`.
    pub fn to_json(&self) -> std::borrow::Cow<'_, str> {
        match self {
            StoredValue::Inline(v) => std::borrow::Cow::Borrowed(v.as_str()),
            StoredValue::Text(s) | StoredValue::Uri { uri: s, .. } => {
                let mut out = String::with_capacity(s.len() + 2);
                crate::json::write_str(&mut out, s, false);
                std::borrow::Cow::Owned(out)
            }
        }
    }
    /// Whether it renders to nothing (never: a value is at least `null`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values whose data bytes are longer than this are offloaded to the
/// object store when one is configured (`docs/format.md` ("Artifacts and large values"): "over 10 KiB").
pub const OFFLOAD_THRESHOLD: usize = 10 * 1024;

/// Takes values too large to inline (`docs/format.md`, "Artifacts and large values"). The SDK's artifact uploader
/// implements it; `dn-core` only calls it.
pub trait ValueOffload: Send + Sync + 'static {
    /// Queues `data` (the value's data bytes, whose hash is `data_hash`) for
    /// upload and returns the `s3://` URI it will have, or `None` to keep
    /// the value inline. Must not block on I/O.
    fn offload(&self, data_hash: Hash16, data: Vec<u8>) -> Option<String>;
}

impl CapturedValue {
    fn json_type(&self) -> &'static str {
        match self {
            CapturedValue::Null => "null",
            CapturedValue::Bool(_) => "boolean",
            CapturedValue::Int(_) | CapturedValue::BigInt(_) => "integer",
            CapturedValue::Float(_) => "number",
            CapturedValue::Str(_) | CapturedValue::Bytes(_) => "string",
            CapturedValue::Seq(_) => "array",
            CapturedValue::Map(_) => "object",
        }
    }

    /// Writes compact JSON. `hash_form` writes what Python hashes (non-ASCII
    /// escaped, `NaN`/`Infinity` literals); otherwise strict JSON (non-finite
    /// floats as `null`).
    pub fn write_json(&self, out: &mut String, hash_form: bool) {
        self.write_form(out, hash_form, hash_form);
    }

    /// The value as an object stores it in `dreadnode.objects`: what Python's
    /// `json.dumps` writes, `NaN` / `Infinity` / `-Infinity` included, so the
    /// stored value reproduces its hash (`docs/format.md`, "Objects").
    pub fn to_stored_json(&self) -> CompactString {
        // The scalars most tasks log are written straight into the inline
        // string, without the scratch buffer's thread-local visit and copy.
        match self {
            CapturedValue::Int(i) => return CompactString::new(crate::json::int_text(&mut itoa::Buffer::new(), *i)),
            CapturedValue::Bool(b) => return CompactString::const_new(if *b { "true" } else { "false" }),
            CapturedValue::Null => return CompactString::const_new("null"),
            _ => {}
        }
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        // Rendered into this thread's scratch buffer, then held inline when
        // short (most logged values: no allocation) or handed over whole.
        let short = SCRATCH.try_with(|scratch| {
            let mut s = scratch.try_borrow_mut().ok()?;
            s.clear();
            self.write_form(&mut s, false, true);
            Some(if s.len() <= std::mem::size_of::<String>() {
                CompactString::new(s.as_str())
            } else {
                std::mem::take(&mut *s).into()
            })
        });
        short.ok().flatten().unwrap_or_else(|| {
            let mut s = String::new(); // a thread being torn down, or re-entered
            self.write_form(&mut s, false, true);
            s.into()
        })
    }

    fn write_form(&self, out: &mut String, escape_non_ascii: bool, non_finite_literals: bool) {
        let hash_form = escape_non_ascii;
        match self {
            CapturedValue::Null => out.push_str("null"),
            CapturedValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            CapturedValue::Int(i) => crate::json::write_int(out, *i),
            CapturedValue::BigInt(digits) => out.push_str(digits),
            CapturedValue::Float(f) => {
                if non_finite_literals && !f.is_finite() {
                    out.push_str(if f.is_nan() {
                        "NaN"
                    } else if *f > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    });
                } else {
                    write_json_float(out, *f);
                }
            }
            CapturedValue::Str(s) => write_str(out, s, hash_form),
            CapturedValue::Bytes(b) => write_str(out, &b64(b), hash_form),
            CapturedValue::Seq(items) => {
                out.push('[');
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    it.write_form(out, hash_form, non_finite_literals);
                }
                out.push(']');
            }
            CapturedValue::Map(entries) => Self::write_entries(entries, out, hash_form, non_finite_literals),
        }
    }

    fn write_entries(
        entries: &[(String, CapturedValue)],
        out: &mut String,
        hash_form: bool,
        non_finite_literals: bool,
    ) {
        out.push('{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_str(out, k, hash_form);
            out.push(':');
            v.write_form(out, hash_form, non_finite_literals);
        }
        out.push('}');
    }

    /// Appends the entries as `CapturedValue::Map(entries).to_json()`
    /// would, without owning them.
    pub fn write_map_json(entries: &[(String, CapturedValue)], out: &mut String) {
        Self::write_entries(entries, out, false, false);
    }

    /// The value as compact, valid JSON.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s, false);
        s
    }

    /// Hashes the bytes Python hashes for this value (zeros for null),
    /// without copying strings; returns the hash and the data length.
    fn data_hash(&self) -> (Hash16, usize, Option<Vec<u8>>) {
        let keep = |b: &[u8]| (b.len() > OFFLOAD_THRESHOLD).then(|| b.to_vec());
        let mut s = String::new();
        let bytes: &[u8] = match self {
            CapturedValue::Null => return (Hash16::ZERO, 0, None),
            // A string's bytes are its stored value (`StoredValue::Text`):
            // not copied again for offloading (see `SerializedValue::offload_data`).
            CapturedValue::Str(v) => return (Hash16::sha1_prefix(v.as_bytes()), v.len(), None),
            CapturedValue::Bool(true) => b"True",
            CapturedValue::Bool(false) => b"False",
            CapturedValue::Bytes(b) => {
                s = b64(b);
                s.as_bytes()
            }
            CapturedValue::Int(i) => {
                let mut buf = itoa::Buffer::new();
                let digits = crate::json::int_text(&mut buf, *i);
                return (Hash16::sha1_prefix(digits.as_bytes()), digits.len(), None);
            }
            CapturedValue::BigInt(digits) => digits.as_bytes(),
            CapturedValue::Float(f) => {
                write_py_float(&mut s, *f);
                s.as_bytes()
            }
            CapturedValue::Seq(_) | CapturedValue::Map(_) => {
                self.write_json(&mut s, true);
                s.as_bytes()
            }
        };
        (Hash16::sha1_prefix(bytes), bytes.len(), keep(bytes))
    }

    /// The JSON schema of `docs/format.md` ("Objects") as compact JSON; `{}` for primitives.
    pub fn schema(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(match self {
            CapturedValue::Bytes(_) => r#"{"type":"string","x-python-datatype":"bytes","format":"base64"}"#.to_string(),
            CapturedValue::Seq(items) => {
                let mut s = String::from(r#"{"type":"array""#);
                if !items.is_empty() {
                    let schemas: Vec<std::borrow::Cow<'static, str>> =
                        items.iter().map(CapturedValue::schema).collect();
                    if schemas.iter().all(|x| x == "{}") {
                        let t = items[0].json_type();
                        if items.iter().all(|i| i.json_type() == t) {
                            s.push_str(r#","items":{"type":""#);
                            s.push_str(t);
                            s.push_str("\"}");
                        }
                    } else {
                        let non_empty: Vec<&std::borrow::Cow<'static, str>> =
                            schemas.iter().filter(|x| *x != "{}").collect();
                        if non_empty.windows(2).all(|w| w[0] == w[1]) {
                            s.push_str(r#","items":"#);
                            s.push_str(non_empty[0]);
                        } else {
                            s.push_str(r#","prefixItems":["#);
                            s.push_str(&schemas.join(","));
                            s.push(']');
                        }
                    }
                }
                s.push('}');
                s
            }
            CapturedValue::Map(entries) => {
                let mut s = String::from(r#"{"type":"object""#);
                let mut first = true;
                for (k, v) in entries {
                    let child = v.schema();
                    if child == "{}" {
                        continue;
                    }
                    s.push_str(if first { r#","properties":{"# } else { "," });
                    first = false;
                    write_str(&mut s, k, true);
                    s.push(':');
                    s.push_str(&child);
                }
                if !first {
                    s.push('}');
                }
                s.push('}');
                s
            }
            _ => return std::borrow::Cow::Borrowed("{}"),
        })
    }

    /// Data bytes, schema and hashes of this value.
    pub fn serialize_object(&self) -> SerializedValue {
        let value = match self {
            CapturedValue::Str(s) => StoredValue::Text(s.clone()),
            other => StoredValue::Inline(other.to_stored_json()),
        };
        SerializedValue { value, ..self.hashed() }
    }

    /// [`CapturedValue::serialize_object`], keeping a string's own `String`
    /// as its stored value: no copy, and no escaping until its line is
    /// rendered.
    pub fn into_object(self) -> SerializedValue {
        let hashed = self.hashed();
        let value = match self {
            CapturedValue::Str(s) => StoredValue::Text(s),
            other => StoredValue::Inline(other.to_stored_json()),
        };
        SerializedValue { value, ..hashed }
    }

    /// Hashes, schema and sizes, with an empty stored value.
    fn hashed(&self) -> SerializedValue {
        let (data_hash, data_len, large_data) = self.data_hash();
        let schema_json = self.schema();
        let schema_hash = if schema_json == "{}" { Hash16::ZERO } else { Hash16::sha1_prefix(schema_json.as_bytes()) };
        SerializedValue {
            hash: composite_hash(data_hash, schema_hash),
            data_hash,
            schema_hash,
            schema_json,
            value: StoredValue::Inline(CompactString::const_new("")),
            data_len,
            large_data,
        }
    }
}

impl SerializedValue {
    /// The value as compact JSON, what `dreadnode.objects` holds for it
    /// (borrowed unless the value is a string held as its text).
    pub fn value_json(&self) -> std::borrow::Cow<'_, str> {
        self.value.to_json()
    }
    /// The data bytes to hand a [`ValueOffload`] when they are over
    /// [`OFFLOAD_THRESHOLD`] (taken out of `large_data`, or copied from a
    /// string's text, which stays the value should the offload decline).
    pub fn offload_data(&mut self) -> Option<Vec<u8>> {
        match (&self.value, self.large_data.take()) {
            (_, Some(data)) => Some(data),
            (StoredValue::Text(s), None) if s.len() > OFFLOAD_THRESHOLD => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}

/// A value as a task logs it: hashed at once, or kept to be hashed when the
/// task's groups are rendered.
///
/// Hashing a number or a short string (two SHA-1 blocks: its data, then
/// `"<data>:<schema>"`, and the digits formatted for the first) was about
/// a third of a task span with one input and one output on its caller. Where no caller reads the hash (`log_input`,
/// `log_output`, `#[dn::task]`'s arguments and return value; not the
/// `try_` forms, which return it, nor a run's values, whose updates are
/// rendered as they go), such a value is kept as it will be stored and
/// hashed by [`TaskData::object_hashes`](crate::TaskData::object_hashes)
/// when its line is rendered: on the export pipeline's writer, for a task
/// whose groups go there as data (fastrace's rule: plain data on the
/// caller, the work on the background thread).
#[derive(Clone, Debug)]
pub enum LoggedValue {
    /// Hashed when logged.
    Hashed(SerializedValue),
    /// A number, boolean or string of at most [`OFFLOAD_THRESHOLD`]
    /// bytes, as a task stores it (schema `{}`): its hash is
    /// [`unhashed_value_hash`] of it.
    Unhashed(StoredValue),
}

impl CapturedValue {
    /// This value to be logged where nothing reads its hash: a number,
    /// boolean or string that is not offloaded stays unhashed.
    pub fn into_logged(self) -> LoggedValue {
        match self {
            CapturedValue::Int(_) | CapturedValue::Float(_) | CapturedValue::Bool(_) => {
                LoggedValue::Unhashed(StoredValue::Inline(self.to_stored_json()))
            }
            CapturedValue::BigInt(ref digits) if digits.len() <= OFFLOAD_THRESHOLD => {
                LoggedValue::Unhashed(StoredValue::Inline(self.to_stored_json()))
            }
            CapturedValue::Str(s) if s.len() <= OFFLOAD_THRESHOLD => LoggedValue::Unhashed(StoredValue::Text(s)),
            other => LoggedValue::Hashed(other.into_object()),
        }
    }
}

impl LoggedValue {
    /// Hashed now (what a caller who reads the hash needs).
    pub fn into_hashed(self) -> SerializedValue {
        match self {
            LoggedValue::Hashed(o) => o,
            LoggedValue::Unhashed(value) => {
                let (data, data_len) = unhashed_data(&value);
                let data_hash = Hash16::sha1_prefix(data);
                SerializedValue {
                    hash: composite_hash(data_hash, Hash16::ZERO),
                    data_hash,
                    schema_hash: Hash16::ZERO,
                    schema_json: std::borrow::Cow::Borrowed("{}"),
                    value,
                    data_len,
                    large_data: None,
                }
            }
        }
    }
}

/// The bytes Python hashes for a value kept [`LoggedValue::Unhashed`], and
/// their length: a string's text; a number's stored JSON, which is its
/// Python `repr` (an integer's digits, a finite float's shortest digits)
/// but for the non-finite floats' literals; a boolean's `True` / `False`.
fn unhashed_data(value: &StoredValue) -> (&[u8], usize) {
    let data: &[u8] = match value {
        StoredValue::Text(s) => s.as_bytes(),
        StoredValue::Inline(json) => match json.as_str() {
            "true" => b"True",
            "false" => b"False",
            "NaN" => b"nan",
            "Infinity" => b"inf",
            "-Infinity" => b"-inf",
            number => number.as_bytes(),
        },
        // Never kept unhashed: an offloaded value is hashed to be stored.
        StoredValue::Uri { uri, .. } => uri.as_bytes(),
    };
    (data, data.len())
}

/// The object hash of a value kept [`LoggedValue::Unhashed`]: the hash
/// [`CapturedValue::into_object`] gives the value it was made from.
pub fn unhashed_value_hash(value: &StoredValue) -> Hash16 {
    composite_hash(Hash16::sha1_prefix(unhashed_data(value).0), Hash16::ZERO)
}

/// `sha1("<data_hash>:<schema_hash>")[:16]`.
pub fn composite_hash(data_hash: Hash16, schema_hash: Hash16) -> Hash16 {
    let mut buf = [0u8; 33];
    buf[..16].copy_from_slice(&data_hash.0);
    buf[16] = b':';
    buf[17..].copy_from_slice(&schema_hash.0);
    Hash16::sha1_prefix(&buf)
}

/// [`serialize_with`] for a value whose hash nobody reads (see [`LoggedValue`]).
pub fn logged_with<T: Serialize + ?Sized>(value: &T, adjust: impl FnOnce(&mut CapturedValue)) -> LoggedValue {
    match CapturedValue::capture(value) {
        Ok(mut v) => {
            adjust(&mut v);
            v.into_logged()
        }
        Err(_) => LoggedValue::Hashed(unknown_object(std::any::type_name::<T>())),
    }
}

/// Serializes any value into an object. Values whose `Serialize` fails are
/// recorded as their type name with the "unknown" schema; this never fails.
pub fn serialize<T: Serialize + ?Sized>(value: &T) -> SerializedValue {
    serialize_with(value, |_| {})
}

/// [`serialize`], with `adjust` applied to the captured value before it is
/// hashed (scrubbing).
pub fn serialize_with<T: Serialize + ?Sized>(value: &T, adjust: impl FnOnce(&mut CapturedValue)) -> SerializedValue {
    match CapturedValue::capture(value) {
        Ok(mut v) => {
            adjust(&mut v);
            v.into_object()
        }
        Err(_) => unknown_object(std::any::type_name::<T>()),
    }
}

/// The object recorded for a value that could not be serialized.
pub fn unknown_object(type_name: &str) -> SerializedValue {
    let v = CapturedValue::Str(type_name.to_string());
    let mut schema = String::from(r#"{"type":"string","title":"#);
    write_str(&mut schema, type_name, true);
    schema.push_str(r#","x-rust-datatype":"unknown"}"#);
    let schema_json: std::borrow::Cow<'static, str> = schema.into();
    let data_hash = Hash16::sha1_prefix(type_name.as_bytes());
    let schema_hash = Hash16::sha1_prefix(schema_json.as_bytes());
    SerializedValue {
        hash: composite_hash(data_hash, schema_hash),
        data_hash,
        schema_hash,
        schema_json,
        value: StoredValue::Inline(v.to_json().into()),
        data_len: type_name.len(),
        large_data: None,
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bigint::SERDE_JSON_NUMBER;
    use serde::Serialize;

    #[test]
    fn scalars_store_as_the_general_form_writes_them() {
        let values = [
            CapturedValue::Null,
            CapturedValue::Bool(true),
            CapturedValue::Bool(false),
            CapturedValue::Int(0),
            CapturedValue::Int(-7),
            CapturedValue::Int(i128::from(i64::MAX)),
            CapturedValue::Int(i128::from(i64::MIN) - 1),
            CapturedValue::Int(i128::MAX),
            CapturedValue::Int(i128::MIN),
            CapturedValue::Float(0.5),
        ];
        for v in values {
            let mut general = String::new();
            v.write_form(&mut general, false, true);
            assert_eq!(v.to_stored_json(), general, "{v:?}");
        }
        assert_eq!(CapturedValue::Int(i128::MIN).to_stored_json(), "-170141183460469231731687303715884105728");
        assert_eq!(CapturedValue::Bool(false).to_stored_json(), "false");
    }

    #[test]
    fn placeholders_are_tildes_and_the_index_in_hex_and_sort_as_stored() {
        assert_eq!(Hash16::placeholder(0).as_str(), "~~~~~~~~00000000");
        assert_eq!(Hash16::placeholder(0x1a2b).as_str(), "~~~~~~~~00001a2b");
        assert_eq!(Hash16::placeholder(0xdead_beef).as_str(), "~~~~~~~~deadbeef");
        let mut previous = Hash16::placeholder(0);
        for n in [1, 9, 10, 15, 16, 255, 256, 4095, 65_536, 1 << 24] {
            let p = Hash16::placeholder(n);
            assert!(p.is_placeholder() && p > previous, "{p} after {previous}");
            assert_eq!(p.as_str(), format!("~~~~~~~~{n:08x}"));
            previous = p;
        }
        assert!(!Hash16::sha1_prefix(b"x").is_placeholder());
    }

    #[test]
    fn a_large_string_is_kept_once_and_its_bytes_are_copied_only_to_offload() {
        let big = "s".repeat(OFFLOAD_THRESHOLD + 1);
        let mut o = serialize(&big);
        assert_eq!(o.large_data, None, "its bytes are its Text, not copied beside it");
        assert_eq!(o.offload_data().as_deref(), Some(big.as_bytes()));
        assert_eq!(o.value, StoredValue::Text(big), "the value stays should the offload decline");
        let list: Vec<u32> = (0..3_000).collect();
        let mut l = serialize(&list);
        let data = l.large_data.clone().expect("a list keeps its hashed bytes");
        assert_eq!(l.offload_data(), Some(data));
        assert_eq!(serialize(&"small").offload_data(), None);
    }

    fn obj<T: Serialize>(v: T) -> SerializedValue {
        serialize(&v)
    }

    #[test]
    fn the_one_block_hash_is_sha1_at_every_length_around_the_block() {
        // Every length from empty to past two blocks, bytes of every value:
        // the padded one-block path and the streaming hasher agree.
        let bytes: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in 0..=bytes.len() {
            for start in [0, 3, 64] {
                let msg = &bytes[start.min(bytes.len() - len)..][..len];
                let mut expected = [0u8; 16];
                crate::ids::encode_hex(&Sha1::digest(msg)[..8], &mut expected);
                assert_eq!(Hash16::sha1_prefix(msg).0, expected, "{len} bytes");
            }
        }
        // Known answers (FIPS 180 examples): "abc" and the empty message.
        assert_eq!(Hash16::sha1_prefix(b"abc").as_str(), "a9993e364706816a");
        assert_eq!(Hash16::sha1_prefix(b"").as_str(), "da39a3ee5e6b4b0d");
    }

    #[test]
    fn primitives_hash_like_python() {
        let o = obj("hello");
        assert_eq!(o.data_hash.as_str(), "aaf4c61ddcc5e8a2");
        assert_eq!(o.hash.as_str(), "e2034718d810a44a");
        assert_eq!(obj(42).hash.as_str(), "2e164e172f76d6dd");
        assert_eq!(obj(0.5).hash.as_str(), "36c83fec4cd7f062");
        assert_eq!(obj(true).hash.as_str(), "bdd8f06f94eb026d");
        assert_eq!(obj(()).hash.as_str(), "f342cc22e40f6e6f");
        assert_eq!(obj(Option::<i32>::None).hash.as_str(), "f342cc22e40f6e6f");
    }

    #[test]
    fn lists_keep_the_user_order() {
        let a = obj(vec![3, 1, 2]);
        let b = obj(vec![1, 2, 3]);
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.value_json(), "[3,1,2]");
        assert_eq!(b.hash.as_str(), "bc9a83787a4c8808");
    }

    #[test]
    fn nested_schema_and_prefix_items() {
        #[derive(Serialize)]
        struct Inner {
            x: i32,
        }
        let v = obj(vec![
            ObjValueWrap(CapturedValue::Seq(vec![CapturedValue::Int(1)])),
            ObjValueWrap(CapturedValue::Map(vec![])),
        ]);
        assert_eq!(
            v.schema_json,
            r#"{"type":"array","prefixItems":[{"type":"array","items":{"type":"integer"}},{"type":"object"}]}"#
        );
        let s = obj(vec![Inner { x: 1 }]);
        assert_eq!(s.schema_json, r#"{"type":"array","items":{"type":"object"}}"#);
    }

    struct ObjValueWrap(CapturedValue);
    impl Serialize for ObjValueWrap {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::{SerializeMap, SerializeSeq};
            match &self.0 {
                CapturedValue::Int(i) => s.serialize_i64(*i as i64),
                CapturedValue::Seq(items) => {
                    let mut q = s.serialize_seq(Some(items.len()))?;
                    for i in items {
                        q.serialize_element(&ObjValueWrap(i.clone()))?;
                    }
                    q.end()
                }
                CapturedValue::Map(e) => {
                    let mut m = s.serialize_map(Some(e.len()))?;
                    for (k, v) in e {
                        m.serialize_entry(k, &ObjValueWrap(v.clone()))?;
                    }
                    m.end()
                }
                _ => s.serialize_unit(),
            }
        }
    }

    #[test]
    fn unserializable_values_become_unknown_strings() {
        struct Bad;
        impl Serialize for Bad {
            fn serialize<S: ser::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("nope"))
            }
        }
        let o = serialize(&Bad);
        assert!(o.schema_json.contains(r#""x-rust-datatype":"unknown""#));
        assert!(o.value_json().contains("Bad"));
    }

    #[test]
    fn integers_hash_their_decimal_text() {
        for i in [0i128, 7, -7, 42, i64::MAX as i128, i64::MIN as i128, u64::MAX as i128] {
            assert_eq!(CapturedValue::Int(i).data_hash().0, Hash16::sha1_prefix(i.to_string().as_bytes()), "{i}");
        }
    }

    /// Python hashes an `int` of any size by its decimal text and stores it
    /// as a JSON number; so do `u128` above `i128::MAX`, [`BigInt`] and
    /// serde_json's arbitrary-precision numbers.
    #[test]
    fn integers_of_any_size_hash_and_store_as_python_ints() {
        let two_130 = "1361129467683753853853498429727072845824"; // 2**130
        for o in [obj(two_130.parse::<BigInt>().unwrap()), obj(u128::MAX)] {
            assert_eq!(o.data_hash, Hash16::sha1_prefix(o.value_json().as_bytes()));
            assert_eq!(o.schema_json, "{}");
            assert!(o.value_json().bytes().all(|b| b.is_ascii_digit()), "a JSON number: {}", o.value_json());
        }
        assert_eq!(obj(u128::MAX).value_json(), u128::MAX.to_string());
        let neg = format!("-{two_130}");
        let o = obj(vec![neg.parse::<BigInt>().unwrap()]);
        assert_eq!(o.data_hash, Hash16::sha1_prefix(format!("[{neg}]").as_bytes()));
        assert_eq!(o.schema_json, r#"{"type":"array","items":{"type":"integer"}}"#);
        // A small BigInt is an ordinary integer.
        assert_eq!(obj("42".parse::<BigInt>().unwrap()).hash, obj(42).hash);

        /// What serde_json hands a serializer for an arbitrary-precision number.
        struct ArbitraryPrecision(&'static str);
        impl Serialize for ArbitraryPrecision {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct as _;
                let mut st = s.serialize_struct(SERDE_JSON_NUMBER, 1)?;
                st.serialize_field(SERDE_JSON_NUMBER, self.0)?;
                st.end()
            }
        }
        assert_eq!(obj(ArbitraryPrecision(two_130)).value_json(), two_130);
        assert_eq!(obj(ArbitraryPrecision(two_130)).data_hash, Hash16::sha1_prefix(two_130.as_bytes()));
        assert_eq!(obj(ArbitraryPrecision("7")).hash, obj(7).hash);
        assert_eq!(obj(ArbitraryPrecision("0.5")).hash, obj(0.5).hash);
        for bad in ["", "-", "01", "1.0", "1e5", "x"] {
            assert!(bad.parse::<BigInt>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn non_finite_floats_hash_and_store_like_python() {
        let o = obj(f64::NAN);
        assert_eq!(o.data_hash, Hash16::sha1_prefix(b"nan"));
        assert_eq!(o.value_json(), "NaN");
        let o = obj(vec![f64::INFINITY]);
        assert_eq!(o.data_hash, Hash16::sha1_prefix(b"[Infinity]"));
        assert_eq!(o.value_json(), "[Infinity]", "the stored text is what was hashed");
        let o = obj(serde_json::json!({"a": [1.5, "x"]}));
        assert_eq!(o.value_json(), r#"{"a":[1.5,"x"]}"#);
        let mut m = std::collections::BTreeMap::new();
        m.insert("lo", f64::NEG_INFINITY);
        let o = obj(m);
        assert_eq!(o.data_hash, Hash16::sha1_prefix(br#"{"lo":-Infinity}"#));
        assert_eq!(o.value_json(), r#"{"lo":-Infinity}"#);
        assert_eq!(CapturedValue::Float(f64::NAN).to_json(), "null", "strict JSON elsewhere (params, attributes)");
    }

    proptest::proptest! {
        /// A number, boolean or string kept unhashed is stored as hashing it
        /// when logged stores it, and its hash worked out later is that
        /// hash: every float bit pattern (non-finite, subnormal, `-0.0`),
        /// any `i128`, any string.
        #[test]
        fn a_value_kept_unhashed_hashes_later_as_it_would_have_when_logged(
            bits in proptest::prelude::any::<u64>(),
            int in proptest::prelude::any::<i128>(),
            flag in proptest::prelude::any::<bool>(),
            text in "\\PC{0,40}",
        ) {
            let values = [
                CapturedValue::Float(f64::from_bits(bits)),
                CapturedValue::Int(int),
                CapturedValue::Bool(flag),
                CapturedValue::Str(text),
            ];
            for v in values {
                let hashed = v.clone().into_object();
                let LoggedValue::Unhashed(kept) = v.into_logged() else { panic!("kept unhashed") };
                proptest::prop_assert_eq!(&kept, &hashed.value);
                proptest::prop_assert_eq!(unhashed_value_hash(&kept), hashed.hash);
                let later = LoggedValue::Unhashed(kept).into_hashed();
                proptest::prop_assert_eq!((later.data_hash, later.data_len), (hashed.data_hash, hashed.data_len));
            }
        }
    }
}
