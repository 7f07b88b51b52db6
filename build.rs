//! Generates the gRPC code from `proto/` with no system `protoc`: protox parses
//! the files in-process, tonic-prost-build writes the Rust, and the encoded
//! descriptor set is kept for server reflection.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "seam/v1/device.proto",
    "seam/v1/action_attempt.proto",
    "seam/v1/event.proto",
    "seam/v1/lock_service.proto",
    "seam/v1/device_service.proto",
    "seam/v1/action_attempt_service.proto",
    "seam/v1/event_service.proto",
];

/// Error-detail messages served by reflection only (tonic-types has the Rust side).
const THIRD_PARTY_ROOT: &str = "third_party";
const ERROR_DETAILS_FILE: &str = "google/rpc/error_details.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed={THIRD_PARTY_ROOT}");

    let file_descriptors = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    let error_details = protox::compile([ERROR_DETAILS_FILE], [THIRD_PARTY_ROOT])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("seam_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&file_descriptors),
    )?;
    std::fs::write(
        out_dir.join("error_details_descriptor.bin"),
        prost::Message::encode_to_vec(&error_details),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Smaller per-call buffers than tonic-prost's default (see src/wire/codec.rs).
        .codec_path("crate::wire::codec::CompactCodec")
        // Struct fields are written as bytes straight from Seam's JSON (see
        // src/wire/encoded_struct.rs); the wire format is unchanged.
        .extern_path(".google.protobuf.Struct", "crate::wire::encoded_struct::EncodedStruct")
        .compile_fds(file_descriptors)?;
    Ok(())
}
