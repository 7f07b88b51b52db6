"""WatchEvents benchmark: with 1, 100 and 1,000 concurrent callers, how many
requests the gateway sends to Seam per minute (it should not depend on the number
of callers) and how long an event takes from appearing upstream to arriving at
each caller.

Against Seam's fake, the gateway with its defaults (one poll a second per
credential). An event is made by locking the door directly in the fake; its
delay is measured from the moment that request returned (the event exists by
then) to its arrival at each caller, on one clock. With webhooks, the benchmark
then reads the event from the fake and delivers it, signed, to the gateway's
webhook listener, as Seam pushes it (the fake itself delivers nothing); the
read and the delivery are part of the measured delay.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
import urllib.request

from harness import (API_KEY, LOCK, WEBHOOK_SECRET, FakeSeam, Gateway, benchmark_arguments, deliver, free_port,
                     generated_stubs, replace_section)

BEGIN = "<!-- watch-events:begin -->"
END = "<!-- watch-events:end -->"
STREAMS_PER_CONNECTION = 100


def call_fake(fake: FakeSeam, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{fake.url}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"{}")


def make_event(fake: FakeSeam, path: str, webhook_address: str | None) -> float:
    """Locks or unlocks in the fake; returns when the event exists. With a
    webhook address, the event is then delivered there as Seam would push it."""
    call_fake(fake, path, {"device_id": LOCK})
    created = time.monotonic()
    if webhook_address:
        since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30)).isoformat()
        events = call_fake(fake, "/events/list", {"since": since}).get("events", [])
        newest = max(events, key=lambda event: (event["created_at"], event["event_id"]))
        deliver(webhook_address, newest)
    return created


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(pb2, pb2_grpc, fake: FakeSeam, gateway: Gateway, callers: int, window: float, events: int,
                  webhook_address: str | None) -> dict:
    import grpc

    channels = [grpc.aio.insecure_channel(gateway.addr) for _ in range(max(1, callers // STREAMS_PER_CONNECTION))]
    arrivals: dict[str, list[float]] = {}
    received = asyncio.Event()
    expected_each = 0

    opened = 0
    all_open = asyncio.Event()

    async def follow(index: int) -> None:
        nonlocal opened
        stub = pb2_grpc.EventServiceStub(channels[index % len(channels)])
        call = stub.WatchEvents(pb2.WatchEventsRequest())
        # Headers come back once the gateway has subscribed the stream to the tail.
        await call.initial_metadata()
        opened += 1
        if opened == callers:
            all_open.set()
        async for message in call:
            arrivals.setdefault(message.event.event_id, []).append(time.monotonic())
            if len(arrivals[message.event.event_id]) == callers and len(arrivals) >= expected_each:
                received.set()

    tasks = [asyncio.create_task(follow(i)) for i in range(callers)]
    await asyncio.wait_for(all_open.wait(), timeout=60)
    loop = asyncio.get_running_loop()

    async def one_event(path: str) -> tuple[str, float]:
        nonlocal expected_each
        received.clear()
        expected_each = len(arrivals) + 1
        created = await loop.run_in_executor(None, make_event, fake, path, webhook_address)
        await asyncio.wait_for(received.wait(), timeout=30)
        newest = max(arrivals, key=lambda event_id: min(arrivals[event_id]))
        return newest, created

    # Warm-up: every stream is open and the tail is running once all callers have this one.
    await one_event("/locks/unlock_door")

    before = await loop.run_in_executor(None, fake.request_counter)
    await asyncio.sleep(window)
    polls = await loop.run_in_executor(None, fake.request_counter) - before - 1

    delays: list[float] = []
    jitter = random.Random(callers)
    for n in range(events):
        event_id, created = await one_event("/locks/lock_door" if n % 2 == 0 else "/locks/unlock_door")
        delays += [arrival - created for arrival in arrivals[event_id]]
        # Events land at random points of the poll interval (seeded: reproducible).
        await asyncio.sleep(jitter.uniform(0.0, 1.0))

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    return {
        "webhooks": webhook_address is not None,
        "callers": callers,
        "per_minute": polls * 60 / window,
        "median": statistics.median(delays),
        "p99": percentile(delays, 0.99),
        "samples": len(delays),
    }


def main() -> None:
    args = benchmark_arguments(__doc__.split("\n\n")[0])
    counts, window, events = ([1, 10], 2.0, 2) if args.smoke else ([1, 100, 1000], 20.0, 8)

    pb2, pb2_grpc = generated_stubs("event_service_pb2", "event_service_pb2_grpc")
    results = []
    for webhooks in (False, True):
        for callers in counts:
            print(f"{callers} callers, webhooks {webhooks} …", file=sys.stderr, flush=True)
            fake = FakeSeam()
            webhook_address = f"127.0.0.1:{free_port()}" if webhooks else None
            settings = dict(SEAM_GATEWAY_WEBHOOK_LISTEN=webhook_address, SEAM_WEBHOOK_SECRET=WEBHOOK_SECRET) if webhooks else {}
            gateway = Gateway(args.gateway, fake.url, **settings)
            try:
                results.append(asyncio.run(
                    measure(pb2, pb2_grpc, fake, gateway, callers, window, events, webhook_address)))
            finally:
                gateway.stop()
                fake.stop()

    lines = [
        f"Generated {datetime.date.today()} by `scripts/bench` on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; tail interval 1 s (the default), upstream requests counted over "
        f"{window:g} s, delays over {events} events × every caller.",
        "",
        "| events learned by | callers | upstream requests per minute | event → caller, median | p99 | samples |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        how = "webhook (tail: 10 s safety interval)" if r["webhooks"] else "polling (tail: 1 s)"
        lines.append(f"| {how} | {r['callers']:,} | {r['per_minute']:.0f} | {r['median'] * 1000:.0f} ms "
                     f"| {r['p99'] * 1000:.0f} ms | {r['samples']:,} |")
    section = f"{BEGIN}\n" + "\n".join(lines) + f"\n{END}"
    print(section)
    if args.write:
        replace_section(args.write, BEGIN, END, section)


if __name__ == "__main__":
    main()
