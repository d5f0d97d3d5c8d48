//! Capturing: any `serde::Serialize` value as a [`CapturedValue`], through
//! a `serde::Serializer` of its own (integers beyond `i128` and
//! arbitrary-precision numbers kept as Python ints, `NaN`s kept).

use std::fmt;

use serde::ser::{self, Serialize};

use crate::Error;

use crate::bigint::{BIGINT_TOKEN, SERDE_JSON_NUMBER, is_integer_text};
use crate::json::write_py_float;
use crate::object::CapturedValue;

impl CapturedValue {
    /// Captures any `Serialize` value. A value that fails to serialize is
    /// represented by its type name with the "unknown" schema of `docs/format.md` ("Objects").
    pub fn capture<T: Serialize + ?Sized>(value: &T) -> Result<CapturedValue, String> {
        value.serialize(ValueSerializer).map_err(|e| e.0)
    }
}

/// Integer text as the narrowest value that holds it.
fn integer(digits: String) -> CapturedValue {
    digits.parse::<i128>().map_or(CapturedValue::BigInt(digits), CapturedValue::Int)
}

/// A JSON number's text: an integer of any size, else a float.
fn number(text: String) -> CapturedValue {
    if is_integer_text(&text) {
        integer(text)
    } else {
        text.parse::<f64>().map_or(CapturedValue::Str(text), CapturedValue::Float)
    }
}

// ---------------------------------------------------------------------------
// serde::Serializer into CapturedValue
// ---------------------------------------------------------------------------

/// Error raised while capturing a value.
#[derive(Debug)]
pub struct CaptureError(String);

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CaptureError {}
impl ser::Error for CaptureError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CaptureError(msg.to_string())
    }
}

struct ValueSerializer;

type R = Result<CapturedValue, CaptureError>;

impl ser::Serializer for ValueSerializer {
    type Ok = CapturedValue;
    type Error = CaptureError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> R {
        Ok(CapturedValue::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_i128(self, v: i128) -> R {
        Ok(CapturedValue::Int(v))
    }
    fn serialize_u8(self, v: u8) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> R {
        Ok(CapturedValue::Int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> R {
        Ok(i128::try_from(v).map_or_else(|_| CapturedValue::BigInt(v.to_string()), CapturedValue::Int))
    }
    fn serialize_f32(self, v: f32) -> R {
        // Through the shortest decimal form, so 0.1f32 is 0.1 and not 0.10000000149011612.
        Ok(CapturedValue::Float(v.to_string().parse::<f64>().unwrap_or(v as f64)))
    }
    fn serialize_f64(self, v: f64) -> R {
        Ok(CapturedValue::Float(v))
    }
    fn serialize_char(self, v: char) -> R {
        Ok(CapturedValue::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> R {
        Ok(CapturedValue::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> R {
        Ok(CapturedValue::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> R {
        Ok(CapturedValue::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> R {
        value.serialize(self)
    }
    fn serialize_unit(self) -> R {
        Ok(CapturedValue::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> R {
        Ok(CapturedValue::Null)
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, variant: &'static str) -> R {
        Ok(CapturedValue::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> R {
        match (name, value.serialize(self)?) {
            (BIGINT_TOKEN, CapturedValue::Str(digits)) => Ok(integer(digits)),
            (_, v) => Ok(v),
        }
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> R {
        Ok(CapturedValue::Map(vec![(variant.to_string(), value.serialize(ValueSerializer)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, CaptureError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, CaptureError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _n: &'static str, len: usize) -> Result<SeqBuilder, CaptureError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, CaptureError> {
        Ok(VariantSeqBuilder(variant, SeqBuilder(Vec::with_capacity(len))))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, CaptureError> {
        Ok(MapBuilder { entries: Vec::with_capacity(len.unwrap_or(0).min(4096)), key: None })
    }
    fn serialize_struct(self, _n: &'static str, len: usize) -> Result<MapBuilder, CaptureError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantMapBuilder, CaptureError> {
        Ok(VariantMapBuilder(variant, MapBuilder { entries: Vec::with_capacity(len), key: None }))
    }
}

struct SeqBuilder(Vec<CapturedValue>);
struct VariantSeqBuilder(&'static str, SeqBuilder);
struct MapBuilder {
    entries: Vec<(String, CapturedValue)>,
    key: Option<String>,
}
struct VariantMapBuilder(&'static str, MapBuilder);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CaptureError> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> R {
        Ok(CapturedValue::Seq(self.0))
    }
}
impl ser::SerializeTuple for SeqBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CaptureError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> R {
        Ok(CapturedValue::Seq(self.0))
    }
}
impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CaptureError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> R {
        Ok(CapturedValue::Seq(self.0))
    }
}
impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CaptureError> {
        ser::SerializeSeq::serialize_element(&mut self.1, value)
    }
    fn end(self) -> R {
        Ok(CapturedValue::Map(vec![(self.0.to_string(), CapturedValue::Seq(self.1.0))]))
    }
}
impl ser::SerializeMap for MapBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), CaptureError> {
        self.key = Some(match key.serialize(ValueSerializer)? {
            CapturedValue::Str(s) => s,
            CapturedValue::Int(i) => i.to_string(),
            CapturedValue::BigInt(digits) => digits,
            CapturedValue::Bool(b) => b.to_string(),
            CapturedValue::Null => "null".to_string(),
            CapturedValue::Float(f) => {
                let mut s = String::new();
                write_py_float(&mut s, f);
                s
            }
            _ => return Err(CaptureError("map key must be a string, number or bool".into())),
        });
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), CaptureError> {
        let key = self.key.take().ok_or_else(|| CaptureError("map value without a key".into()))?;
        self.entries.push((key, value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> R {
        Ok(CapturedValue::Map(self.entries))
    }
}
impl ser::SerializeStruct for MapBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), CaptureError> {
        self.entries.push((key.to_string(), value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(mut self) -> R {
        // serde_json's `arbitrary_precision` numbers arrive as this struct.
        if let [(k, CapturedValue::Str(_))] = self.entries.as_slice() {
            if k == SERDE_JSON_NUMBER {
                if let Some((_, CapturedValue::Str(text))) = self.entries.pop() {
                    return Ok(number(text));
                }
            }
        }
        Ok(CapturedValue::Map(self.entries))
    }
}

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = CapturedValue;
    type Error = CaptureError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), CaptureError> {
        ser::SerializeStruct::serialize_field(&mut self.1, key, value)
    }
    fn end(self) -> R {
        Ok(CapturedValue::Map(vec![(self.0.to_string(), CapturedValue::Map(self.1.entries))]))
    }
}

/// A param's compact JSON; a value that fails to serialize is recorded by its type name.
/// With `adjust` applied to the captured value first (scrubbing).
pub(crate) fn param_json<T: Serialize + ?Sized>(value: &T, adjust: impl FnOnce(&mut CapturedValue)) -> String {
    match CapturedValue::capture(value) {
        Ok(mut v) => {
            adjust(&mut v);
            v.to_json()
        }
        Err(_) => unknown_param_json(std::any::type_name::<T>()),
    }
}

/// The param recorded for a value that could not be serialized: its type name.
pub(crate) fn unknown_param_json(type_name: &str) -> String {
    CapturedValue::Str(type_name.to_string()).to_json()
}

/// The entries of a value that serializes to a map (for `log_params`, `log_inputs`, ..).
pub(crate) fn map_entries<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<(String, CapturedValue)>, Error> {
    match CapturedValue::capture(value) {
        Ok(CapturedValue::Map(e)) => Ok(e),
        Ok(_) => Err(Error::InvalidInput(format!(
            "{what} takes a value that serializes to a map (a struct, a map or json!({{..}}))"
        ))),
        Err(e) => Err(Error::InvalidInput(format!("{what}: value failed to serialize: {e}"))),
    }
}
