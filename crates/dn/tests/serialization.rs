//! The Python SDK's serialization vectors (copied to tests/fixtures):
//! data hashes for every vector, and schema and object hashes for every
//! value that has the same shape in JSON and in Rust.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design

use serde_json::Value;

fn vectors() -> serde_json::Map<String, Value> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/serialization_vectors.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json");
    v["vectors"].as_object().expect("vectors").clone()
}

#[test]
fn data_hashes_equal_python_for_every_vector() {
    for (name, v) in vectors() {
        let o = dn::core::serialize(&v["data"]);
        assert_eq!(o.data_hash.as_str(), v["data_hash"].as_str().unwrap(), "data hash of {name}");
        assert_eq!(o.data_len as u64, v["data_len"].as_u64().unwrap(), "data length of {name}");
    }
}

#[test]
fn schemas_and_object_hashes_equal_python_for_json_native_values() {
    // Values whose Python type maps to a plain JSON value (the others carry
    // Python-specific titles and formats: tuple, set, datetime, dataclass, ...).
    let native = [
        "str",
        "empty_str",
        "unicode_str",
        "int",
        "negative_int",
        "float",
        "float_integral",
        "bool_true",
        "bool_false",
        "none",
        "list_ints",
        "list_mixed",
        "empty_list",
        "dict",
        "empty_dict",
        "nested",
    ];
    let vs = vectors();
    for name in native {
        let v = &vs[name];
        let o = dn::core::serialize(&v["data"]);
        let schema: Value = serde_json::from_str(&o.schema_json).unwrap();
        assert_eq!(schema, v["schema"], "schema of {name}");
        assert_eq!(o.schema_hash.as_str(), v["schema_hash"].as_str().unwrap(), "schema hash of {name}");
        assert_eq!(o.hash.as_str(), v["object_hash(composite)"].as_str().unwrap(), "object hash of {name}");
    }
}

#[test]
fn bytes_serialize_like_python_bytes() {
    struct Raw(&'static [u8]);
    impl serde::Serialize for Raw {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    let v = &vectors()["bytes"];
    let o = dn::core::serialize(&Raw(b"\x00\x01bytes"));
    assert_eq!(o.hash.as_str(), v["object_hash(composite)"].as_str().unwrap());
}

#[test]
fn rust_structs_and_options_serialize_as_objects() {
    #[derive(serde::Serialize)]
    struct Point {
        x: i32,
        y: i32,
    }
    let o = dn::core::serialize(&Point { x: 1, y: 2 });
    assert_eq!(o.value_json(), r#"{"x":1,"y":2}"#);
    assert_eq!(o.data_hash.as_str(), "8dae7a34946c10bd", "same data bytes as the Python dataclass");
    assert_eq!(o.schema_json, r#"{"type":"object"}"#);
    assert_eq!(dn::core::serialize(&Some(3)).hash, dn::core::serialize(&3).hash);
}
