"""The local runtime's tables kept on disk: moto holds them in memory, this keeps them across runs.

`tables.json` in the state directory holds every item of both tables in DynamoDB's JSON. It is
loaded at start, written again a moment after writes (every `interval` seconds at most) and at a
clean stop, each time whole and at one instant. A crash (kill -9, power loss) loses at most the
writes of the last interval; Ctrl-C loses nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from pathlib import Path
from typing import Any

from local.config import LocalError, write_private
from local.moto_stand_in import SerializedMotoServer

log = logging.getLogger("timerack_bridge.local")

FORMAT = 1


class KeptTables:
    """Loads the tables into the stand-in at start; `start()` keeps them written, `stop()` writes them last."""

    def __init__(self, moto: SerializedMotoServer, path: Path, table_names: list[str], interval: float) -> None:
        self.moto = moto
        self.path = path
        self.table_names = table_names
        self.interval = interval
        self._saved_writes = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> int:
        """Put the kept items back into the (new, empty) tables; how many there were."""
        if not self.path.exists():
            return 0
        try:
            kept = json.loads(self.path.read_text())
            tables = {name: [_from_file(item) for item in kept["tables"].get(name, [])] for name in self.table_names}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LocalError(f"the kept tables in {self.path} cannot be read ({exc}); start with --fresh") from None
        self.moto.put_table_items(tables)
        self._saved_writes = self.moto.writes  # what was just loaded is what the file holds
        return sum(len(items) for items in tables.values())

    def save(self) -> None:
        """Write every item, unless nothing was written since the last save."""
        if self.moto.writes == self._saved_writes:
            return
        writes, tables = self.moto.table_items(self.table_names)
        content = {"format": FORMAT, "tables": {name: [_to_file(i) for i in items] for name, items in tables.items()}}
        write_private(self.path, json.dumps(content, separators=(",", ":")))
        self._saved_writes = writes

    def start(self) -> KeptTables:
        self._thread = threading.Thread(target=self._loop, name="kept-tables", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.save()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.save()
            except OSError:
                log.exception("keeping the tables in %s failed; trying again", self.path)


def _to_file(value: Any) -> Any:
    """DynamoDB JSON as moto holds it (binaries as bytes) -> as the wire writes it (binaries in base64)."""
    return _convert(value, lambda raw: base64.b64encode(raw).decode("ascii"))


def _from_file(value: Any) -> Any:
    return _convert(value, base64.b64decode)


def _convert(item: dict[str, Any], binary: Any) -> dict[str, Any]:
    return {name: _attribute(attribute, binary) for name, attribute in item.items()}


def _attribute(attribute: dict[str, Any], binary: Any) -> dict[str, Any]:
    (kind, value), *_ = attribute.items()
    if kind == "B":
        return {kind: binary(value)}
    if kind == "BS":
        return {kind: [binary(v) for v in value]}
    if kind == "M":
        return {kind: _convert(value, binary)}
    if kind == "L":
        return {kind: [_attribute(v, binary) for v in value]}
    return {kind: value}
