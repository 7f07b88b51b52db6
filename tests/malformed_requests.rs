//! Request bodies that are not valid protobuf (truncated, or a string field
//! that is not UTF-8) are the caller's fault: INVALID_ARGUMENT with
//! ErrorInfo, and a log line, although no handler ran.
use crate::support;

use std::time::Duration;

use bytes::{Buf, BufMut};
use support::API_KEY;
use support::process::GatewayProcess;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends and receives raw bytes, so that a test can send what no generated
/// client would.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

async fn send_raw(url: &str, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Channel::from_shared(url.to_owned())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .expect_err("refused")
}

#[tokio::test]
async fn non_utf8_strings_and_truncated_messages_are_invalid_argument_and_logged() {
    let gateway = GatewayProcess::start(
        &[],
        &[("SEAM_ENDPOINT", "http://127.0.0.1:1"), ("SEAM_API_KEY", API_KEY)],
    )
    .await;
    // Field 1 (device_id), length 2, bytes that are not UTF-8.
    let not_utf8 = vec![0x0a, 0x02, 0xff, 0xfe];
    let status = send_raw(&gateway.url(), "/seam.v1.LockService/GetLock", not_utf8.clone()).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(support::error_info(&status).reason, "MALFORMED_REQUEST");
    let status = send_raw(&gateway.url(), "/seam.v1.LockService/UnlockDoor", not_utf8).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // Field 1 announces 5 bytes and brings 1.
    let truncated = vec![0x0a, 0x05, 0x61];
    let status = send_raw(&gateway.url(), "/seam.v1.DeviceService/GetDevice", truncated).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    for method in ["GetLock", "UnlockDoor", "GetDevice"] {
        let line = gateway
            .wait_for_line("rpc", Duration::from_secs(5), |line| line["fields"]["method"] == method)
            .await;
        assert_eq!(line["fields"]["code"], "InvalidArgument", "{line}");
    }
}
