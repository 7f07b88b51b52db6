//! The generated protobuf and gRPC code of package `seam.v1`.

tonic::include_proto!("seam.v1");

/// The encoded `FileDescriptorSet` of `proto/`, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seam_v1_descriptor.bin"));

/// The encoded `FileDescriptorSet` of the `google.rpc` error details the
/// gateway sends, so that reflection clients (grpcurl) can decode them.
pub const ERROR_DETAILS_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/error_details_descriptor.bin"));
