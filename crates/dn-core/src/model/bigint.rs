//! Integers beyond `i128`, as Python logs an `int` of any size: the
//! [`BigInt`] type, and how captured values recognise it and `serde_json`'s
//! arbitrary-precision numbers.

use serde::{Serialize, ser};

/// The struct and field name `serde_json` gives an `arbitrary_precision` number.
pub(crate) const SERDE_JSON_NUMBER: &str = "$serde_json::private::Number";
/// The newtype name a [`BigInt`] serializes as.
pub(crate) const BIGINT_TOKEN: &str = "$dn::BigInt";

pub(crate) fn is_integer_text(s: &str) -> bool {
    let d = s.strip_prefix('-').unwrap_or(s);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && (d == "0" || !d.starts_with('0'))
}

/// An integer of any size, logged, hashed and stored as Python logs an
/// `int` (its decimal text, a JSON number): for values beyond `i128`.
///
/// ```
/// # use dn_core as dn;
/// let big: dn::BigInt = "340282366920938463463374607431768211457".parse().unwrap();
/// let o = dn::serialize(&big);
/// assert_eq!(o.value_json(), "340282366920938463463374607431768211457");
/// assert!("12x".parse::<dn::BigInt>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigInt(String);

impl BigInt {
    /// The decimal digits (with a leading `-` when negative).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for BigInt {
    type Err = crate::Error;
    /// Decimal digits with an optional leading `-`, no leading zeros.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_integer_text(s) {
            Ok(BigInt(s.to_string()))
        } else {
            Err(crate::Error::InvalidInput(format!("not an integer: {:?}", crate::excerpt(s))))
        }
    }
}

impl From<i128> for BigInt {
    fn from(v: i128) -> Self {
        BigInt(v.to_string())
    }
}

impl From<u128> for BigInt {
    fn from(v: u128) -> Self {
        BigInt(v.to_string())
    }
}

impl Serialize for BigInt {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(BIGINT_TOKEN, &self.0)
    }
}
