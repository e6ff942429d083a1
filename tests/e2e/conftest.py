"""Starts the local runtime (`timerack-bridge run`) as a user would, on a free port, and talks HTTP to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    url: str
    state_dir: Path
    process: subprocess.Popen[str]
    log_path: Path

    def token(self, principal: str, admin: bool = False) -> str:
        args = [sys.executable, "-m", "local.cli", "token", "--principal", principal] + (["--admin"] if admin else [])
        env = {**os.environ, "TIMERACK_STATE_DIR": str(self.state_dir)}
        return subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout.strip()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`timerack-bridge ARGS` as a user runs it next to this stack (its state dir and port in the environment)."""
        port = self.url.rsplit(":", 1)[1]
        environment = {**os.environ, "TIMERACK_STATE_DIR": str(self.state_dir), "TIMERACK_PORT": port, **(env or {})}
        environment.pop("TIMERACK_BRIDGE_URL", None)
        return run_cli(*args, env=environment)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def start_stack(
    state_dir: Path, stack_class: type[LocalStack] = LocalStack, env: dict[str, str] | None = None
) -> LocalStack:
    """`timerack-bridge run` on a free port with its state in state_dir, once it answers /v1/health."""
    from local.runtime import free_port

    port = free_port()
    log_path = state_dir / "runtime.log"
    environment = {
        **os.environ,
        "TIMERACK_PORT": str(port),
        "TIMERACK_STATE_DIR": str(state_dir),
        "TIMERACK_EXPORT_INTERVAL": "3600",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.cli", "run"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    stack = stack_class(url=f"http://127.0.0.1:{port}", state_dir=state_dir, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the local runtime exited:\n{stack.logs()}")
        try:
            if stack.call("GET", "/v1/health")[0] == 200 and (state_dir / "runtime.json").exists():
                return stack
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local runtime did not answer within 60 s:\n{stack.logs()}")
        time.sleep(0.2)


def stop_stack(stack: LocalStack) -> None:
    """Ctrl-C, as a user stops it: it must exit cleanly (status 0)."""
    stack.process.send_signal(signal.SIGINT)
    try:
        stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise
    assert stack.process.returncode == 0, stack.logs()


# The session runtime answers at most this many timecards at once: a larger batch goes to its intake worker.
SESSION_SYNC_BATCH_TIMECARDS = 20


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    sync = {"SYNC_BATCH_TIMECARDS": str(SESSION_SYNC_BATCH_TIMECARDS)}
    stack = start_stack(tmp_path_factory.mktemp("local-state"), env=sync)
    yield stack
    stop_stack(stack)
