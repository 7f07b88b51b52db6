//! `google.protobuf.Struct` fields (`seam_object`, an attempt's `result`) kept
//! as their protobuf encoding, written straight from Seam's JSON text.
//!
//! Why: every object the gateway returns carries the whole Seam object as a
//! Struct. Built as `prost_types::Struct`, that is a tree of maps, strings and
//! boxed values per call, walked twice more to encode it; it was the largest
//! part of the gateway's own CPU per call after the HTTP stacks
//! (BENCHMARKS.md). Written as bytes in one pass over the JSON text, it costs
//! one buffer, and a snapshot shared by thousands of streams is cloned by
//! reference count. The bytes on the wire are the same Struct; Rust callers
//! read it with [`EncodedStruct::to_struct`] or [`EncodedStruct::get`].

use std::fmt;

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType, encode_key, encode_varint, skip_field};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The encoded fields of one `google.protobuf.Struct`.
#[derive(Clone, Default, PartialEq)]
pub struct EncodedStruct {
    encoded: Bytes,
}

impl EncodedStruct {
    /// Encodes a JSON object's text. Anything but an object is an error.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let mut encoded = Vec::with_capacity(text.len() + text.len() / 4);
        let mut deserializer = serde_json::Deserializer::from_str(text);
        (&mut deserializer).deserialize_map(StructWriter(&mut encoded))?;
        deserializer.end()?;
        Ok(Self {
            encoded: encoded.into(),
        })
    }

    /// Encodes a JSON value that is already parsed; `None` unless it is an object.
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        let mut encoded = Vec::new();
        value.deserialize_map(StructWriter(&mut encoded)).ok()?;
        Some(Self {
            encoded: encoded.into(),
        })
    }

    /// The decoded Struct.
    pub fn to_struct(&self) -> prost_types::Struct {
        // The bytes are a Struct's fields: written here, or read from the wire
        // as such by `merge_field`.
        prost::Message::decode(self.encoded.clone()).unwrap_or_default()
    }

    /// The value of one field, if present.
    pub fn get(&self, key: &str) -> Option<prost_types::Value> {
        self.to_struct().fields.remove(key)
    }

    /// The number of bytes of the encoding.
    pub fn encoded_len(&self) -> usize {
        self.encoded.len()
    }
}

impl From<prost_types::Struct> for EncodedStruct {
    fn from(object: prost_types::Struct) -> Self {
        Self {
            encoded: prost::Message::encode_to_vec(&object).into(),
        }
    }
}

impl fmt::Debug for EncodedStruct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_struct(), f)
    }
}

/// Struct's only field: `map<string, Value> fields = 1`.
const STRUCT_FIELDS: u32 = 1;

impl prost::Message for EncodedStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        if tag != STRUCT_FIELDS || wire_type != WireType::LengthDelimited {
            return skip_field(wire_type, tag, buf, ctx);
        }
        // One map entry: kept as it came, after the ones before it.
        let mut entry = Vec::new();
        prost::encoding::bytes::merge(wire_type, &mut entry, buf, ctx)?;
        let mut encoded = Vec::with_capacity(self.encoded.len() + entry.len() + 6);
        encoded.extend_from_slice(&self.encoded);
        encode_key(STRUCT_FIELDS, WireType::LengthDelimited, &mut encoded);
        encode_varint(entry.len() as u64, &mut encoded);
        encoded.extend_from_slice(&entry);
        self.encoded = encoded.into();
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    fn clear(&mut self) {
        self.encoded = Bytes::new();
    }
}

// ------------------------------------------------------------------ writing

// Keys (field number << 3 | wire type) of the messages of struct.proto.
/// Struct.fields (1) and ListValue.values (1): length-delimited.
const KEY_ENTRY_OR_ITEM: u8 = 1 << 3 | 2;
/// The map entry's key (1) and value (2).
const KEY_ENTRY_KEY: u8 = 1 << 3 | 2;
const KEY_ENTRY_VALUE: u8 = 2 << 3 | 2;
/// Value's oneof: null_value (1, varint), number_value (2, fixed64),
/// string_value (3), bool_value (4, varint), struct_value (5), list_value (6).
const KEY_NULL: u8 = 1 << 3;
const KEY_NUMBER: u8 = 2 << 3 | 1;
const KEY_STRING: u8 = 3 << 3 | 2;
const KEY_BOOL: u8 = 4 << 3;
const KEY_STRUCT: u8 = 5 << 3 | 2;
const KEY_LIST: u8 = 6 << 3 | 2;

/// Opens a length-delimited field: one byte is kept for its length, which is
/// only known once its content is written ([`close`]).
fn open(out: &mut Vec<u8>, key: u8) -> usize {
    out.push(key);
    out.push(0);
    out.len()
}

/// Writes the length of the field opened at `start`; a length of 128 bytes or
/// more needs more than the one byte kept, and the content moves up.
fn close(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    if len < 0x80 {
        out[start - 1] = len as u8;
        return;
    }
    // A varint is at most 10 bytes: written on the stack, not in a new buffer.
    let mut varint = [0_u8; 10];
    let mut unwritten = &mut varint[..];
    encode_varint(len as u64, &mut unwritten);
    let written = 10 - unwritten.len();
    out[start - 1] = varint[0];
    out.splice(start..start, varint[1..written].iter().copied());
}

fn write_string(out: &mut Vec<u8>, key: u8, text: &str) {
    out.push(key);
    encode_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// Writes the entries of a Struct for the JSON object being read.
struct StructWriter<'a>(&'a mut Vec<u8>);

impl<'de> Visitor<'de> for StructWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        loop {
            let entry = open(out, KEY_ENTRY_OR_ITEM);
            if map.next_key_seed(KeyWriter(out))?.is_none() {
                out.truncate(entry - 2);
                return Ok(());
            }
            let value = open(out, KEY_ENTRY_VALUE);
            map.next_value_seed(ValueWriter(out))?;
            close(out, value);
            close(out, entry);
        }
    }
}

/// Writes a map entry's key.
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for KeyWriter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        write_string(self.0, KEY_ENTRY_KEY, key);
        Ok(())
    }
}

/// Writes one `google.protobuf.Value` for the JSON value being read.
struct ValueWriter<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ValueWriter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueWriter<'_> {
    fn number(self, number: f64) {
        self.0.push(KEY_NUMBER);
        self.0.extend_from_slice(&number.to_le_bytes());
    }
}

impl<'de> Visitor<'de> for ValueWriter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(&[KEY_NULL, 0]);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_bool<E>(self, flag: bool) -> Result<(), E> {
        self.0.extend_from_slice(&[KEY_BOOL, u8::from(flag)]);
        Ok(())
    }

    fn visit_i64<E>(self, number: i64) -> Result<(), E> {
        self.number(number as f64);
        Ok(())
    }

    fn visit_u64<E>(self, number: u64) -> Result<(), E> {
        self.number(number as f64);
        Ok(())
    }

    fn visit_f64<E>(self, number: f64) -> Result<(), E> {
        self.number(number);
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        write_string(self.0, KEY_STRING, text);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let out = self.0;
        let list = open(out, KEY_LIST);
        loop {
            let item = open(out, KEY_ENTRY_OR_ITEM);
            if items.next_element_seed(ValueWriter(out))?.is_none() {
                out.truncate(item - 2);
                break;
            }
            close(out, item);
        }
        close(out, list);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let out = self.0;
        let object = open(out, KEY_STRUCT);
        StructWriter(out).visit_map(map)?;
        close(out, object);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use prost_types::value::Kind;
    use prost_types::{ListValue, Struct, Value};

    /// The reference: the same JSON through serde_json's tree and prost_types.
    fn via_prost_types(text: &str) -> Struct {
        fn value(json: serde_json::Value) -> Value {
            let kind = match json {
                serde_json::Value::Null => Kind::NullValue(0),
                serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
                serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
                serde_json::Value::String(s) => Kind::StringValue(s),
                serde_json::Value::Array(items) => Kind::ListValue(ListValue {
                    values: items.into_iter().map(value).collect(),
                }),
                serde_json::Value::Object(map) => Kind::StructValue(object(map)),
            };
            Value { kind: Some(kind) }
        }
        fn object(map: serde_json::Map<String, serde_json::Value>) -> Struct {
            Struct {
                fields: map.into_iter().map(|(k, v)| (k, value(v))).collect(),
            }
        }
        match serde_json::from_str(text).unwrap() {
            serde_json::Value::Object(map) => object(map),
            _ => panic!("not an object"),
        }
    }

    const MIXED: &str = r#"{"device_id":"a1","n":-3,"big":18446744073709551615,"f":0.48,"t":true,"nil":null,
        "esc\"aped":"line\nbreak \u00e9","list":[1,"two",[],{},null,false],"empty":{},
        "nested":{"deeper":{"deepest":[{"k":"v"}]}}}"#;

    #[test]
    fn encodes_what_prost_types_would() {
        let encoded = EncodedStruct::from_json(MIXED).unwrap();
        assert_eq!(encoded.to_struct(), via_prost_types(MIXED));
    }

    #[test]
    fn lengths_of_128_bytes_and_more_take_several_bytes() {
        let long = "x".repeat(300);
        let huge = "y".repeat(70_000);
        let text = format!(r#"{{"a":"{long}","b":{{"c":"{huge}","d":[{{"e":"{long}"}}]}}}}"#);
        let encoded = EncodedStruct::from_json(&text).unwrap();
        assert_eq!(encoded.to_struct(), via_prost_types(&text));
    }

    #[test]
    fn empty_object_is_an_empty_struct() {
        let encoded = EncodedStruct::from_json("{}").unwrap();
        assert_eq!(encoded.encoded_len(), 0);
        assert_eq!(encoded.to_struct(), Struct::default());
    }

    #[test]
    fn only_objects_are_accepted() {
        for text in ["[1]", "\"text\"", "3", "null", "{\"a\":", "{\"a\" 1}", "{} {}"] {
            assert!(EncodedStruct::from_json(text).is_err(), "{text}");
        }
        assert_eq!(EncodedStruct::from_value(&serde_json::json!([1])), None);
    }

    #[test]
    fn a_parsed_object_encodes_the_same() {
        let parsed: serde_json::Value = serde_json::from_str(MIXED).unwrap();
        assert_eq!(
            EncodedStruct::from_value(&parsed).unwrap().to_struct(),
            EncodedStruct::from_json(MIXED).unwrap().to_struct()
        );
    }

    #[test]
    fn survives_a_round_trip_inside_a_message() {
        // A message with the Struct as field 6, as on ActionAttempt.
        #[derive(Clone, PartialEq, prost::Message)]
        struct Holder {
            #[prost(string, tag = "1")]
            id: String,
            #[prost(message, optional, tag = "6")]
            object: Option<EncodedStruct>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Reference {
            #[prost(string, tag = "1")]
            id: String,
            #[prost(message, optional, tag = "6")]
            object: Option<Struct>,
        }
        let holder = Holder {
            id: "x".into(),
            object: Some(EncodedStruct::from_json(MIXED).unwrap()),
        };
        let wire = holder.encode_to_vec();
        let reference = Reference::decode(&wire[..]).unwrap();
        assert_eq!(reference.object, Some(via_prost_types(MIXED)));
        let back = Holder::decode(&wire[..]).unwrap();
        assert_eq!(back, holder);
        assert_eq!(
            back.object.unwrap().get("device_id").unwrap().kind,
            Some(Kind::StringValue("a1".into()))
        );
        assert_eq!(
            Holder::decode(&reference.encode_to_vec()[..]).unwrap().object,
            holder.object.map(|o| o.to_struct().into())
        );
    }
}
