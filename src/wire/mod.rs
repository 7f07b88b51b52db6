//! Protobuf on the wire: the generated code, the codec, `google.protobuf.Struct`
//! written straight from Seam's JSON, and the conversion of Seam's objects.

pub mod codec;
pub mod convert;
pub mod encoded_struct;
pub mod pb;
