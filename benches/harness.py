"""What the benchmarks share: Seam's fake, the gateway binary, and Python stubs
generated from proto/ the way a Python user would generate them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RELEASE_GATEWAY = REPO / "target" / "release" / "seam-grpc-gateway"
API_KEY = "seam_apikey1_token"
LOCK = "august_device_1"
# The signing secret the benchmarks give the gateway's webhook listener.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def deliver(address: str, event: dict) -> None:
    """POSTs `event` to the gateway's webhook listener, signed as Svix signs."""
    body = json.dumps(event)
    delivery_id = f"msg_{event['event_id']}"
    timestamp = str(int(time.time()))
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    request = urllib.request.Request(
        f"http://{address}/webhooks/seam", data=body.encode(), method="POST",
        headers={"content-type": "application/json", "svix-id": delivery_id, "svix-timestamp": timestamp,
                 "svix-signature": "v1," + base64.b64encode(digest).decode()})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 204, answer.status


class FakeSeam:
    """Seam's own fake (Node), started through tests/support/fake_seam.mjs."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["node", str(REPO / "tests/support/fake_seam.mjs")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.url = json.loads(self.process.stdout.readline())["url"]

    def request_counter(self) -> int:
        """The fake numbers every request it serves (`seam-request-id: requestN`)."""
        with urllib.request.urlopen(f"{self.url}/_fake/default_seed") as response:
            return int(response.headers["seam-request-id"].removeprefix("request"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    def __init__(self, binary: Path, endpoint: str, **settings: str) -> None:
        self.addr = f"127.0.0.1:{free_port()}"
        env = dict(os.environ, SEAM_ENDPOINT=endpoint, SEAM_API_KEY=API_KEY,
                   SEAM_GATEWAY_LISTEN=self.addr, RUST_LOG="warn", **settings)
        self.process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(self.addr.rsplit(":", 1)[1]))) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the gateway did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)


def generated_stubs(*modules: str):
    """Stubs from proto/, generated with grpcio-tools as a Python user would;
    returns the `seam.v1.<module>` modules asked for."""
    out = Path(tempfile.mkdtemp(prefix="seam-stubs-"))
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(REPO / "proto")) for p in (REPO / "proto/seam/v1").glob("*.proto"))
    code = protoc.main(["protoc", f"-I{REPO / 'proto'}", f"-I{well_known}",
                        f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if code != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    # Regular packages: a namespace package would lose to an installed `seam`.
    for package in (out / "seam", out / "seam" / "v1"):
        (package / "__init__.py").touch()
    sys.path.insert(0, str(out))
    import importlib

    return tuple(importlib.import_module(f"seam.v1.{module}") for module in modules)


def benchmark_arguments(description: str):
    """The options every benchmark takes: --smoke, --gateway, --write."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the benchmark works")
    parser.add_argument("--gateway", type=Path, default=RELEASE_GATEWAY, help="the gateway binary to measure")
    parser.add_argument("--write", type=Path, help="replace the generated section of this Markdown file")
    return parser.parse_args()


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Replaces the text between the markers `begin` and `end` in `path` (or appends it)."""
    import re

    text = path.read_text() if path.exists() else ""
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text += "\n" + section + "\n"
    path.write_text(text)


def publish(report: str, begin: str, end: str, write) -> None:
    """Prints `report` as a generated section (machine, Python, date) and, with
    --write, replaces that section of the Markdown file."""
    import datetime
    import platform

    header = (f"Generated {datetime.date.today()} by `scripts/bench` on {platform.machine()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}.")
    section = f"{begin}\n{header}\n\n{report}\n{end}"
    print(section)
    if write:
        replace_section(write, begin, end, section)
