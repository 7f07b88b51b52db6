"""Seam's official Python SDK locking a door the way Seam's guide prescribes:
get the lock, confirm `can_remotely_lock`, `lock_door` with the default wait
(5 s timeout, 0.5 s polling). One warm-up, then `--runs` sequential locks; one
JSON line per lock with monotonic timestamps (the clock is system-wide, so the
benchmark compares them with its own).

A separate process because the SDK's package is named `seam`, like the stubs
generated from proto/seam/v1, and one interpreter cannot import both.
"""

import argparse
import json
import time

from seam import Seam
from seam.exceptions import SeamActionAttemptTimeoutError


def lock_once(client, device_id):
    lock = client.locks.get(device_id=device_id)
    if not lock.can_remotely_lock:
        raise SystemExit("the lock cannot be locked remotely")
    try:
        attempt = client.locks.lock_door(device_id=device_id)
        return attempt.action_attempt_id, False
    except SeamActionAttemptTimeoutError as timeout:
        return timeout.action_attempt.action_attempt_id, True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--runs", type=int, required=True)
    args = parser.parse_args()
    client = Seam(api_key=args.api_key, endpoint=args.endpoint)
    lock_once(client, args.device_id)
    for _ in range(args.runs):
        start = time.monotonic()
        attempt_id, timed_out = lock_once(client, args.device_id)
        done = time.monotonic()
        print(json.dumps({"start": start, "done": done, "attempt_id": attempt_id, "timed_out": timed_out}), flush=True)


if __name__ == "__main__":
    main()
