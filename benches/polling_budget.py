"""Polling budget benchmark: 1,000 pending action attempts watched at once,
and one lock that completes among them. How many requests per second reach
Seam (bounded by --max-polls-per-second, default 20 per credential), and how
late the one lock's caller learns that it completed.

The upstream is the confirmation benchmark's scripted Seam: the background
attempts never complete; the measured lock completes a fixed time after it
was accepted. Run through scripts/bench; `--smoke` runs a tiny version.
"""

from __future__ import annotations

import asyncio
import time

from confirmation import ScriptedSeam
from harness import LOCK, Gateway, benchmark_arguments, generated_stubs, publish

BEGIN = "<!-- polling-budget:begin -->"
END = "<!-- polling-budget:end -->"


class BusySeam(ScriptedSeam):
    """The scripted Seam, where attempts it did not create are pending for ever."""

    def route(self, path: str, params: dict) -> tuple[int, dict]:
        attempt_id = params.get("action_attempt_id", "")
        if path == "/action_attempts/get" and attempt_id.startswith("background"):
            with self.lock:
                self.requests += 1
                self.polls[attempt_id] = self.polls.get(attempt_id, 0) + 1
            return 200, {"action_attempt": {"action_attempt_id": attempt_id, "action_type": "LOCK_DOOR",
                                            "status": "pending", "result": None, "error": None}, "ok": True}
        return super().route(path, params)


async def measure(gateway_addr: str, seam: BusySeam, background: int, delays: list[float], window: float):
    import grpc

    attempts_pb2, attempts_grpc, locks_pb2, locks_grpc = generated_stubs(
        "action_attempt_service_pb2", "action_attempt_service_pb2_grpc", "lock_service_pb2", "lock_service_pb2_grpc")
    async with grpc.aio.insecure_channel(gateway_addr) as channel:
        watchers = attempts_grpc.ActionAttemptServiceStub(channel)
        streams = [watchers.WatchActionAttempt(attempts_pb2.WatchActionAttemptRequest(
            action_attempt_id=f"background{n}")) for n in range(background)]
        # Each stream's first message: its poller has made its first check
        # (at 20 polls per second, 1,000 first checks take 50 s).
        await asyncio.gather(*(stream.read() for stream in streams))
        before, started = seam.requests, time.monotonic()
        await asyncio.sleep(window)
        rate = (seam.requests - before) / (time.monotonic() - started)

        locks = locks_grpc.LockServiceStub(channel)
        lags = []
        for delay in delays:
            seam.delay = delay
            final_at, attempt_id = 0.0, ""
            async for message in locks.LockDoor(locks_pb2.LockDoorRequest(device_id=LOCK), timeout=600):
                final_at, attempt_id = time.monotonic(), message.action_attempt.action_attempt_id
            lags.append((delay, final_at - seam.completed_at(attempt_id), seam.calls_for(attempt_id)))
        for stream in streams:
            stream.cancel()
    return rate, lags


def run(args) -> str:
    seam = BusySeam()
    # The background streams must outlive the whole run (default --max-wait is 60 s).
    gateway = Gateway(args.gateway, seam.url, SEAM_GATEWAY_MAX_WAIT="1h")
    try:
        rate, lags = asyncio.run(measure(gateway.addr, seam, args.background, args.delays, args.window))
    finally:
        gateway.stop()
        seam.server.shutdown()
    lines = [
        f"{args.background:,} `WatchActionAttempt` streams on attempts that stay pending, one credential, "
        f"default budget (`--max-polls-per-second 20`) and schedule:",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests per second at Seam while the {args.background:,} attempts wait ({args.window:g} s) | {rate:.1f} |",
    ]
    for delay, lag, calls in lags:
        lines.append(f"| one lock completing {delay:g} s after acceptance among them: lag at the caller "
                     f"(upstream calls for it) | {lag * 1000:.0f} ms ({calls}) |")
    return "\n".join(lines)


def main() -> None:
    args = benchmark_arguments(__doc__.split("\n\n")[0])
    if args.smoke:
        args.background, args.delays, args.window = 20, [0.5], 1.0
    else:
        args.background, args.delays, args.window = 1000, [0.5, 2.0, 8.0], 10.0
    publish(run(args), BEGIN, END, args.write)


if __name__ == "__main__":
    main()
