"""The export runs: one item per run, one per client outcome (a run of any size stays far below 400 KB an item).

Run `EXPORTRUN#{runId}` / `RUN`, listed newest first on gsi2 `EXPORTRUNS` / `{startedAt}#{runId}`; its
outcomes `EXPORTRUN#{runId}` / `CLIENT#{customerId:012}`. Every item expires after RETENTION_DAYS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from timerack_bridge.adapters.dynamodb.base import TableStore, decode, decode_token, encode, encode_token, strip_keys
from timerack_bridge.adapters.dynamodb.tables import TTL_ATTRIBUTE
from timerack_bridge.domain.export_models import ClientOutcome, ExportRun, ExportRunRecord
from timerack_bridge.exceptions import UnprocessableError

RUNS_PARTITION = "EXPORTRUNS"
RUN_SK = "RUN"
OUTCOME_PREFIX = "CLIENT#"
# Long enough to look back over a quarter's runs; an hourly run of every client would otherwise pile up.
RETENTION_DAYS = 90
MAX_BATCH_WRITE = 25


def run_pk(run_id: str) -> str:
    return f"EXPORTRUN#{run_id}"


def _sortable(moment: datetime) -> str:
    # Fixed width (microseconds always present) so the index sorts by time.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ExportRunStore(TableStore):
    """Records export runs (the `ExportRuns` port) and reads them back for the API."""

    def _expires_at(self, run: ExportRun) -> int:
        return int((run.started_at + timedelta(days=RETENTION_DAYS)).timestamp())

    def _run_item(self, run: ExportRun) -> dict[str, Any]:
        return {
            "pk": run_pk(run.run_id),
            "sk": RUN_SK,
            "gsi2pk": RUNS_PARTITION,
            "gsi2sk": f"{_sortable(run.started_at)}#{run.run_id}",
            "run_id": run.run_id,
            "trigger": run.trigger,
            "destination": run.destination,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "counts_by_node": {node: c.model_dump() for node, c in run.counts_by_node().items()},
            TTL_ATTRIBUTE: self._expires_at(run),
        }

    def start(self, run: ExportRun) -> None:
        self.put(self._run_item(run))

    def finish(self, run: ExportRun) -> None:
        self.put(self._run_item(run))

    def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None:
        """The outcomes, 25 to a BatchWriteItem, unprocessed items retried with backoff."""
        expires = int(time.time()) + RETENTION_DAYS * 86400
        requests = [{"PutRequest": {"Item": encode(_outcome_item(run_id, o, expires))}} for o in outcomes]
        for start in range(0, len(requests), MAX_BATCH_WRITE):
            self._batch_write(requests[start : start + MAX_BATCH_WRITE])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending, attempt = requests, 0
        while pending:
            response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            if pending:
                attempt += 1
                time.sleep(min(0.05 * 2**attempt, 2.0))

    def get_run(self, run_id: str) -> ExportRunRecord | None:
        item = self.get(run_pk(run_id), RUN_SK)
        return _record(item) if item else None

    def list_runs(self, *, limit: int, next_token: str | None) -> tuple[list[ExportRunRecord], str | None]:
        """The runs, newest first."""
        start = decode_token(next_token)
        items, last = self.query_index("gsi2", RUNS_PARTITION, forward=False, limit=limit, start=start)
        return [_record(i) for i in items], encode_token(last)

    def run_outcomes(
        self,
        run_id: str,
        *,
        limit: int,
        next_token: str | None,
        include: Callable[[ClientOutcome], bool] | None = None,
    ) -> tuple[list[ClientOutcome], str | None]:
        """A page of the run's outcomes by customer id: up to `limit` of those `include` keeps."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": run_pk(run_id)}, ":prefix": {"S": OUTCOME_PREFIX}},
            "Limit": limit,
        }
        start = _checked_start(run_id, decode_token(next_token))
        found: list[ClientOutcome] = []
        while True:
            if start:
                params["ExclusiveStartKey"] = start
            response = self.client.query(**params)
            for raw in response.get("Items", []):
                outcome = _outcome(decode(raw))
                if include is None or include(outcome):
                    found.append(outcome)
                if len(found) == limit:
                    # A full page ends at the last item read: the next page resumes after it.
                    return found, encode_token({"pk": raw["pk"], "sk": raw["sk"]})
            start = response.get("LastEvaluatedKey")
            if not start:
                return found, None


def _checked_start(run_id: str, start: dict[str, Any] | None) -> dict[str, Any] | None:
    """A token's key, if this run's outcome listing gave it out."""
    if start is None:
        return None
    well_formed = set(start) == {"pk", "sk"} and all(
        isinstance(v, dict) and list(v) == ["S"] and isinstance(v["S"], str) for v in start.values()
    )
    if not well_formed or start["pk"]["S"] != run_pk(run_id) or not start["sk"]["S"].startswith(OUTCOME_PREFIX):
        raise UnprocessableError("nextToken is not a token this API gave out")
    return start


def _outcome_item(run_id: str, outcome: ClientOutcome, expires: int) -> dict[str, Any]:
    return {
        "pk": run_pk(run_id),
        "sk": f"{OUTCOME_PREFIX}{outcome.customer_id or 0:012d}",
        **outcome.model_dump(mode="json"),
        TTL_ATTRIBUTE: expires,
    }


def _outcome(item: dict[str, Any]) -> ClientOutcome:
    return ClientOutcome(**strip_keys(item, (TTL_ATTRIBUTE,)))


def _record(item: dict[str, Any]) -> ExportRunRecord:
    return ExportRunRecord(**strip_keys(item, (TTL_ATTRIBUTE,)))
