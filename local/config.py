"""Where the local runtime lives: its settings, its state directory, and `runtime.json` for the CLI to find it."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
MAIN_TABLE_NAME = "timerack-local"
IDEMPOTENCY_TABLE_NAME = "timerack-local-idempotency"
SENDER_EMAIL = "timerack-bridge@agency.example"
DEFAULT_PORT = 3000
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LocalError(Exception):
    """A failure the CLI reports as one line (no runtime running, a missing file, a refused request)."""


def state_dir() -> Path:
    """TIMERACK_STATE_DIR, or `.local/`: the signing key, the kept tables, the outboxes, runtime.json."""
    return Path(os.environ.get("TIMERACK_STATE_DIR", ".local"))


def api_port() -> int:
    value = os.environ.get("TIMERACK_PORT", str(DEFAULT_PORT))
    try:
        return int(value)
    except ValueError:
        raise LocalError(f"TIMERACK_PORT must be a port number, not {value!r}") from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default) not in ("0", "", "false", "no")


@dataclass
class RuntimeConfig:
    port: int = DEFAULT_PORT
    state_dir: Path = Path(".local")
    seed: bool = True
    fresh: bool = False
    export_interval: float = 3600.0
    moto_port: int = 0
    instances: int = 4
    keep_interval: float = 2.0
    # How many queued clients the local export workers send at once (the event source's maximum concurrency).
    export_concurrency: int = 5

    @classmethod
    def from_env(cls, *, fresh: bool = False) -> RuntimeConfig:
        env = os.environ
        try:
            return cls(
                port=api_port(),
                state_dir=state_dir(),
                seed=_flag("TIMERACK_SEED", "1"),
                fresh=fresh or _flag("TIMERACK_FRESH", "0"),
                export_interval=float(env.get("TIMERACK_EXPORT_INTERVAL", "3600")),
                moto_port=int(env.get("TIMERACK_MOTO_PORT", "0")),
                instances=max(1, int(env.get("TIMERACK_INSTANCES", "4"))),
                export_concurrency=max(1, int(env.get("TIMERACK_EXPORT_CONCURRENCY", "5"))),
            )
        except ValueError as exc:
            raise LocalError(f"a TIMERACK_ variable is not a number: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Write the file readable by the user alone (0600), replacing it whole: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    partial.chmod(0o600)  # a partial file left by a crash may have been made with other bits
    os.replace(partial, path)


@dataclass(frozen=True)
class RuntimeInfo:
    """What a running runtime writes to `runtime.json` (and removes at stop) so the CLI finds it."""

    api_url: str
    moto_url: str
    table_name: str
    outbox_dir: str
    # The export queue's lanes on the stand-in: `timerack-bridge export` queues its run there.
    export_queue_url: str
    export_priority_queue_url: str

    @staticmethod
    def path(directory: Path) -> Path:
        return directory / "runtime.json"

    def write(self, directory: Path) -> None:
        fields = {"apiUrl": self.api_url, "motoUrl": self.moto_url, "tableName": self.table_name}
        queues = {"exportQueueUrl": self.export_queue_url, "exportPriorityQueueUrl": self.export_priority_queue_url}
        write_private(self.path(directory), json.dumps({**fields, "outboxDir": self.outbox_dir, **queues}))

    @classmethod
    def read(cls, directory: Path) -> RuntimeInfo | None:
        """The running runtime's address, or None when none has written one in this state directory."""
        try:
            data = json.loads(cls.path(directory).read_text())
            return cls(
                data["apiUrl"],
                data["motoUrl"],
                data["tableName"],
                data["outboxDir"],
                data["exportQueueUrl"],
                data["exportPriorityQueueUrl"],
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            raise LocalError(f"{cls.path(directory)} cannot be read; stop the runtime and start it again") from None


def local_api_url(explicit: str | None = None) -> str:
    """The API to talk to: the one named, else the running runtime's, else 127.0.0.1 on TIMERACK_PORT."""
    if explicit:
        return explicit.rstrip("/")
    running = RuntimeInfo.read(state_dir())
    return running.api_url if running else f"http://127.0.0.1:{api_port()}"
