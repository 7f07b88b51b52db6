"""A Python service using the gateway through stubs generated from proto/:
lists locks, locks a door while printing each streamed status, and prints the
ErrorInfo reason of a failed call.

    ./generate.sh && python client.py --target 127.0.0.1:50051 --device-id august_device_1

Over TLS (--ca-cert), with a client certificate (mutual TLS: --client-cert,
--client-key) and/or a JWT read from a file on every call (--token-file, e.g. a
Kubernetes projected service-account token, which the kubelet renews):

    python client.py --target gateway:50051 --ca-cert ca.crt \
        --client-cert frontdesk.crt --client-key frontdesk.key --token-file token.jwt
"""

import argparse
import sys
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

sys.path.insert(0, str(Path(__file__).resolve().parent / "gen"))
from seam.v1 import action_attempt_pb2, lock_service_pb2, lock_service_pb2_grpc  # noqa: E402

STATUS = action_attempt_pb2.ActionAttempt.Status


def list_locks(stub):
    page_token = ""
    while True:
        page = stub.ListLocks(lock_service_pb2.ListLocksRequest(page_size=2, page_token=page_token))
        for lock in page.locks:
            locked = lock.properties.locked if lock.properties.HasField("locked") else None
            print(f"lock {lock.device_id} type={lock.device_type} locked={locked}")
        if not page.next_page_token:
            return
        page_token = page.next_page_token


def lock_door(stub, device_id):
    for message in stub.LockDoor(lock_service_pb2.LockDoorRequest(device_id=device_id), timeout=30):
        attempt = message.action_attempt
        print(f"LockDoor {device_id}: {STATUS.Name(attempt.status)} {attempt.action_attempt_id}")
        if attempt.status == STATUS.STATUS_ERROR:
            print(f"  failed: {attempt.error.type}: {attempt.error.message}")


def error_reason(error):
    """The google.rpc.ErrorInfo reason carried by a failed call."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, dict(info.metadata)
    return None, {}


def channel_for(args):
    """A plaintext channel, or TLS with the optional client certificate and JWT."""
    if not args.ca_cert:
        if args.client_cert or args.token_file:
            sys.exit("--client-cert and --token-file need TLS (--ca-cert)")
        return grpc.insecure_channel(args.target)
    read = lambda path: Path(path).read_bytes() if path else None  # noqa: E731
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca_cert),
        private_key=read(args.client_key),
        certificate_chain=read(args.client_cert),
    )
    if args.token_file:
        token_file = Path(args.token_file)

        class BearerToken(grpc.AuthMetadataPlugin):
            def __call__(self, context, callback):
                callback((("authorization", "Bearer " + token_file.read_text().strip()),), None)

        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(BearerToken())
        )
    return grpc.secure_channel(args.target, credentials)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--device-id", default="august_device_1")
    parser.add_argument("--missing-device-id", default="no_such_lock")
    parser.add_argument("--ca-cert", help="PEM CA bundle that signed the gateway's certificate (enables TLS)")
    parser.add_argument("--client-cert", help="PEM client certificate, for mutual TLS")
    parser.add_argument("--client-key", help="PEM key of --client-cert")
    parser.add_argument("--token-file", help="file holding a JWT, sent as authorization: Bearer")
    args = parser.parse_args()

    with channel_for(args) as channel:
        stub = lock_service_pb2_grpc.LockServiceStub(channel)
        list_locks(stub)
        lock_door(stub, args.device_id)
        try:
            stub.GetLock(lock_service_pb2.GetLockRequest(device_id=args.missing_device_id))
        except grpc.RpcError as error:
            reason, metadata = error_reason(error)
            print(f"GetLock {args.missing_device_id}: {error.code().name} reason={reason} "
                  f"device_id={metadata.get('device_id')}")


if __name__ == "__main__":
    main()
