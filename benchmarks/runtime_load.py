"""The local runtime under load: batch posts from several concurrent HTTP clients (informational).

`timerack-bridge run` starts in its own process on a free 127.0.0.1 port (demo data seeded, a
fresh state directory, the export on a long interval); the benchmark adds assignments through the
admin API, warms each client up with one post, then each client posts its own assignments' batch
(every one a replacement after the first) a bounded number of times over a keep-alive connection.
The runtime serves requests on up to TIMERACK_INSTANCES API processes, as several Lambda instances
would, while its moto server makes one AWS call at a time: concurrency shows up mostly as queueing.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, percentile, quick, stop_process

SECTION = "local runtime"
ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_PER_CLIENT = 25  # x 2 pay codes = 50 timecards a post
FIRST_ASSIGNMENT = 700_000


class Connection:
    """One keep-alive HTTP connection with a bearer token."""

    def __init__(self, port: int, token: str) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        self.http.request(method, path, body=payload, headers=headers)
        response = self.http.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)


def _wait_healthy(port: int, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local runtime exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the local runtime did not become healthy")


def _batch(client: int, weekend_bill: date) -> dict[str, Any]:
    monday = weekend_bill - timedelta(days=6)
    cards = []
    for n in range(ASSIGNMENTS_PER_CLIENT):
        assignment_id = FIRST_ASSIGNMENT + client * 1000 + n
        cards.append(
            {
                "assignmentId": assignment_id,
                "employeeId": 501,
                "payCode": "REG",
                "days": [{"date": (monday + timedelta(days=d)).isoformat(), "hours": 8} for d in range(5)],
            }
        )
        cards.append(
            {
                "assignmentId": assignment_id,
                "employeeId": 501,
                "payCode": "OT",
                "days": [
                    {"date": (monday + timedelta(days=5)).isoformat(), "punches": [{"in": "0800", "out": "1200"}]}
                ],
            }
        )
    return {
        "clientKey": "ACME-1",
        "payPeriod": {"start": monday.isoformat(), "end": weekend_bill.isoformat()},
        "timecards": cards,
    }


def _load(port: int, token: str, weekend_bill: date, clients: int, posts: int) -> tuple[list[float], float]:
    """Each client posts its batch `posts` times; returns every latency (ms) and the phase's wall seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client_run(client: int) -> None:
        connection = Connection(port, token)
        body = _batch(client, weekend_bill)
        status, reply = connection.call("POST", "/v1/timecard-batches", body)  # warm-up, not measured
        start.wait()
        for _ in range(posts):
            started = time.perf_counter()
            status, reply = connection.call("POST", "/v1/timecard-batches", body)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200 or reply["counts"]["errors"]:
                    errors.append(f"{status} {str(reply)[:200]}")

    threads = [threading.Thread(target=client_run, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} posts failed under load, e.g. {errors[0]}")
    return latencies, wall


COMMAND = ["-m", "local.cli", "run"]  # `timerack-bridge run`


def _add_assignments(port: int, key: bytes, weekend_bill: date, clients: int) -> None:
    from local.tokens import issue_token

    admin = Connection(port, issue_token(key, "bench-admin", admin=True))
    for client in range(clients):
        for n in range(ASSIGNMENTS_PER_CLIENT):
            status, reply = admin.call(
                "PUT",
                f"/v1/assignments/{FIRST_ASSIGNMENT + client * 1000 + n}",
                {
                    "employeeId": 501,
                    "customerId": 100,
                    "hierarchyNodeId": "acme-branch",
                    "status": "Active",
                    "startDate": (weekend_bill - timedelta(days=60)).isoformat(),
                    "jobTitle": "Picker",
                },
            )
            if status != 200:
                raise RuntimeError(f"could not add an assignment: {status} {reply}")


def _run(posts: int, concurrency: tuple[int, ...]) -> list[Figure]:
    from local.runtime import free_port
    from local.seed import DEMO_PRINCIPAL, current_weekend_bill
    from local.tokens import issue_token, signing_key

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="timerack-runtime-") as state_dir:
        port = free_port()
        env = {
            **os.environ,
            "TIMERACK_PORT": str(port),
            "TIMERACK_STATE_DIR": state_dir,
            "TIMERACK_SEED": "1",
            "TIMERACK_EXPORT_INTERVAL": "86400",
        }
        process = subprocess.Popen(
            [sys.executable, *COMMAND], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_healthy(port, process)
            key = signing_key(Path(state_dir))
            weekend_bill = current_weekend_bill(date.today())
            _add_assignments(port, key, weekend_bill, max(concurrency))
            token = issue_token(key, DEMO_PRINCIPAL)
            cards = 2 * ASSIGNMENTS_PER_CLIENT
            for clients in concurrency:
                latencies, wall = _load(port, token, weekend_bill, clients, posts)
                tag = f"{clients} client{'s' if clients > 1 else ''} x {posts} posts of {cards} tc"
                figures.append(
                    Figure(
                        SECTION,
                        f"{tag}: p50 / p99 latency",
                        median(latencies),
                        "ms",
                        note=f"p99 {percentile(latencies, 99):.0f} ms (nearest rank of {len(latencies)} posts)",
                    )
                )
                figures.append(
                    Figure(
                        SECTION,
                        f"{tag}: throughput",
                        len(latencies) * cards / wall,
                        "tc/s",
                        note=f"{len(latencies) / wall:.1f} posts/s over {wall:.1f} s",
                    )
                )
        finally:
            stop_process(process, grace_seconds=20)
    return figures


def bench() -> list[Figure]:
    return _run(5 if quick() else 12, (1, 4))
