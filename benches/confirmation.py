"""Confirmation benchmark: how soon a caller learns that a lock command completed,
and how many upstream calls that costs, through the gateway and through Seam's
official Python SDK used as Seam's guide prescribes (get the lock, check
`can_remotely_lock`, `lock_door` with the default wait settings).

Two upstreams:
- Seam's fake (completes every action at once): the time from the call to the
  final answer, end to end.
- a scripted Seam-shaped upstream in this process whose actions complete a fixed
  delay after they were accepted (0, 0.5, 2 and 8 s): the lag from upstream
  completion to the final answer at the caller, on one clock. It is measured
  three ways: the gateway polling, the gateway with Seam's webhooks (the
  upstream sends the signed `action_attempt.lock_door.succeeded` delivery the
  moment the action completes, as Seam does through Svix), and the SDK.

Run through scripts/bench; `--smoke` runs a tiny version that only checks the
benchmark still works. Prints a Markdown report; `--write FILE` also replaces the
generated section of FILE.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import (API_KEY, LOCK, REPO, WEBHOOK_SECRET, FakeSeam, Gateway, benchmark_arguments, deliver, free_port,
                     generated_stubs, publish)

BEGIN = "<!-- confirmation:begin -->"
END = "<!-- confirmation:end -->"


# ---------------------------------------------------------------- upstreams

class ScriptedSeam:
    """A Seam-shaped HTTP upstream whose lock actions complete `delay` seconds
    after they were accepted. Counts every request it serves."""

    def __init__(self) -> None:
        self.delay = 0.0
        # The gateway's webhook listener: each action's completion is delivered there.
        self.webhook_address: str | None = None
        self.requests = 0
        self.accepted_at: dict[str, float] = {}
        self.polls: dict[str, int] = {}
        self.lock = threading.Lock()
        seam = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle and
            # delayed ACKs add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self.answer(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)))

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b"{}"
                self.answer(json.loads(body or b"{}"))

            def answer(self, params: dict) -> None:
                path = urllib.parse.urlsplit(self.path).path
                status, payload = seam.route(path, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("seam-request-id", f"scripted{seam.requests}")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, path: str, params: dict) -> tuple[int, dict]:
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            if path in ("/locks/get", "/devices/get"):
                device = {
                    "device_id": LOCK, "device_type": "august_lock", "display_name": "Front Door",
                    "workspace_id": "w", "connected_account_id": "c", "created_at": "2026-01-01T00:00:00Z",
                    "capabilities_supported": ["lock"], "can_remotely_lock": True, "can_remotely_unlock": True,
                    "properties": {"online": True, "locked": False, "name": "Front Door",
                                   "appearance": {"name": "Front Door"},
                                   "model": {"display_name": "Lock", "manufacturer_display_name": "August"}},
                    "errors": [], "warnings": [], "custom_metadata": {}, "space_ids": [], "is_managed": True,
                }
                return 200, {"lock": device, "device": device, "ok": True}
            if path in ("/locks/lock_door", "/locks/unlock_door"):
                attempt_id = f"attempt{len(self.accepted_at) + 1}"
                self.accepted_at[attempt_id] = now
                # Like Seam: the command's answer is the pending attempt.
                pending = dict(self.attempt(attempt_id, now), status="pending", result=None)
                if self.webhook_address:
                    threading.Timer(self.delay, self.completed, args=(attempt_id, self.webhook_address)).start()
                return 200, {"action_attempt": pending, "ok": True}
            if path == "/action_attempts/get":
                attempt_id = params.get("action_attempt_id", "")
                self.polls[attempt_id] = self.polls.get(attempt_id, 0) + 1
                if attempt_id not in self.accepted_at:
                    return 404, {"error": {"type": "action_attempt_not_found", "message": "not found"}, "ok": False}
                return 200, {"action_attempt": self.attempt(attempt_id, now), "ok": True}
            return 404, {"error": {"type": "not_found", "message": path}, "ok": False}

    def attempt(self, attempt_id: str, now: float) -> dict:
        done = now >= self.accepted_at[attempt_id] + self.delay
        return {
            "action_attempt_id": attempt_id, "action_type": "LOCK_DOOR",
            "status": "success" if done else "pending",
            "result": {"was_confirmed_by_device": True} if done else None, "error": None,
        }

    def completed(self, attempt_id: str, address: str) -> None:
        """Seam's delivery of the completion (after the command's answer left)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        deliver(address, {
            "event_id": f"event-{attempt_id}", "event_type": "action_attempt.lock_door.succeeded",
            "workspace_id": "w", "created_at": now, "occurred_at": now, "device_id": LOCK,
            "action_attempt_id": attempt_id, "action_type": "LOCK_DOOR", "status": "success",
        })

    def completed_at(self, attempt_id: str) -> float:
        return self.accepted_at[attempt_id] + self.delay

    def calls_for(self, attempt_id: str) -> int:
        """The lock read, the command and the polls of one lock."""
        return 2 + self.polls.get(attempt_id, 0)


# ---------------------------------------------------------------- clients


def gateway_lock(stub, pb2) -> tuple[float, str, int]:
    """LockDoor until the stream ends; returns (time of the final message, attempt id, messages)."""
    final_at, attempt_id, count = 0.0, "", 0
    for message in stub.LockDoor(pb2.LockDoorRequest(device_id=LOCK), timeout=60):
        final_at = time.monotonic()
        attempt_id = message.action_attempt.action_attempt_id
        count += 1
    return final_at, attempt_id, count


def sdk_locks(endpoint: str, runs: int) -> list[dict]:
    """`runs` locks by Seam's Python SDK (benches/sdk_baseline.py), after a warm-up."""
    output = subprocess.run(
        [sys.executable, str(REPO / "benches/sdk_baseline.py"), "--endpoint", endpoint,
         "--api-key", API_KEY, "--device-id", LOCK, "--runs", str(runs)],
        check=True, capture_output=True, text=True,
    ).stdout
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# ---------------------------------------------------------------- measurements


def median_ms(values: list[float]) -> str:
    values = [v for v in values if v == v]
    return f"{statistics.median(values) * 1000:.0f} ms" if values else "n/a"


def run(args) -> str:
    import grpc

    pb2, pb2_grpc = generated_stubs("lock_service_pb2", "lock_service_pb2_grpc")
    lines: list[str] = []

    # 1. Against Seam's fake: call to final answer, end to end.
    fake = FakeSeam()
    gateway = Gateway(args.gateway, fake.url)
    try:
        channel = grpc.insecure_channel(gateway.addr)
        stub = pb2_grpc.LockServiceStub(channel)
        gateway_lock(stub, pb2)  # warm-up: connections and first-call costs
        durations = {"gateway": [], "sdk": []}
        calls = {"gateway": [], "sdk": []}
        for _ in range(args.fake_runs):
            before = fake.request_counter()
            start = time.monotonic()
            final_at, _, _ = gateway_lock(stub, pb2)
            durations["gateway"].append(final_at - start)
            calls["gateway"].append(fake.request_counter() - before - 1)
        before = fake.request_counter()
        sdk_runs = sdk_locks(fake.url, args.fake_runs)
        # The SDK's warm-up lock made 3 requests (get, command, one poll) like each run.
        sdk_requests = fake.request_counter() - before - 1
        durations["sdk"] = [run["done"] - run["start"] for run in sdk_runs]
        calls["sdk"] = [sdk_requests / (args.fake_runs + 1)]
        ratio = statistics.median(durations["sdk"]) / statistics.median(durations["gateway"])
        lines += [
            f"**Against Seam's fake** (completes at once), {args.fake_runs} sequential locks each:",
            "",
            "| client | median call → confirmed | min | max | upstream calls per lock |",
            "|---|---|---|---|---|",
        ]
        for who, label in (("gateway", "gateway `LockDoor` stream"), ("sdk", "Python SDK `locks.get` + `lock_door`")):
            d = durations[who]
            lines.append(f"| {label} | {median_ms(d)} | {min(d) * 1000:.0f} ms | {max(d) * 1000:.0f} ms "
                         f"| {statistics.median(calls[who]):.0f} |")
        lines += ["", f"The gateway confirms **{ratio:.1f}×** sooner (median).", ""]
        channel.close()
    finally:
        gateway.stop()
        fake.stop()

    # 2. Scripted upstream: lag from upstream completion to the caller, the
    # gateway polling, the gateway with webhooks, and the SDK.
    scripted = ScriptedSeam()
    webhook_address = f"127.0.0.1:{free_port()}"
    polling = Gateway(args.gateway, scripted.url)
    pushed = Gateway(args.gateway, scripted.url, SEAM_GATEWAY_WEBHOOK_LISTEN=webhook_address,
                     SEAM_WEBHOOK_SECRET=WEBHOOK_SECRET)
    try:
        stubs = {}
        for who, gateway in (("polling", polling), ("webhooks", pushed)):
            stubs[who] = (grpc.insecure_channel(gateway.addr), gateway)
        scripted.delay = 0.0
        for who, (channel, _) in stubs.items():
            scripted.webhook_address = webhook_address if who == "webhooks" else None
            # Warm-up; with webhooks, its delivery also proves the path (safety schedule).
            gateway_lock(pb2_grpc.LockServiceStub(channel), pb2)
        lines += [
            "**Against a scripted upstream** whose lock completes a fixed time after it was accepted "
            "(lag = final answer at the caller − upstream completion, one clock). With webhooks, the "
            "upstream delivers the signed `action_attempt.lock_door.succeeded` the moment the action "
            "completes, as Seam does; the gateway runs with its defaults "
            "(`--webhook-safety-poll-interval 10s`):",
            "",
            "| completes after | runs | gateway lag, polling | upstream calls | gateway lag, webhooks | upstream calls "
            "| SDK lag | SDK upstream calls |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for delay, runs in args.delays:
            scripted.delay = delay
            lag = {"polling": [], "webhooks": [], "sdk": []}
            calls = {"polling": [], "webhooks": [], "sdk": []}
            for who, (channel, _) in stubs.items():
                scripted.webhook_address = webhook_address if who == "webhooks" else None
                stub = pb2_grpc.LockServiceStub(channel)
                for _ in range(runs):
                    final_at, attempt_id, _ = gateway_lock(stub, pb2)
                    # A read the delivery triggers may still be counted after the answer.
                    time.sleep(0.05)
                    calls[who].append(scripted.calls_for(attempt_id))
                    lag[who].append(final_at - scripted.completed_at(attempt_id))
            scripted.webhook_address = None
            sdk_runs = sdk_locks(scripted.url, runs)
            for run_ in sdk_runs:
                calls["sdk"].append(scripted.calls_for(run_["attempt_id"]))
                lag["sdk"].append(float("nan") if run_["timed_out"] else run_["done"] - scripted.completed_at(run_["attempt_id"]))
            sdk_lag = median_ms(lag["sdk"])
            if any(run_["timed_out"] for run_ in sdk_runs):
                sdk_lag = "never: timed out (5 s default wait)"
            lines.append(
                f"| {delay:g} s | {runs} | {median_ms(lag['polling'])} | {statistics.median(calls['polling']):.0f} "
                f"| {median_ms(lag['webhooks'])} (max {max(lag['webhooks']) * 1000:.0f} ms) "
                f"| {statistics.median(calls['webhooks']):.0f} (max {max(calls['webhooks'])}) "
                f"| {sdk_lag} | {statistics.median(calls['sdk']):.0f} |")
        for channel, _ in stubs.values():
            channel.close()
    finally:
        polling.stop()
        pushed.stop()
        scripted.server.shutdown()

    lines += ["", "Upstream calls count every request of one lock: the lock read, the command and the polls."]
    return "\n".join(lines)


def main() -> None:
    args = benchmark_arguments(__doc__.split("\n\n")[0])
    if args.smoke:
        args.fake_runs, args.delays = 2, [(0.0, 1), (0.5, 1)]
    else:
        args.fake_runs, args.delays = 30, [(0.0, 10), (0.5, 10), (2.0, 5), (8.0, 3)]

    publish(run(args), BEGIN, END, args.write)


if __name__ == "__main__":
    main()
