"""The export runs: one item per run, one per client outcome (a run of any size stays far below 400 KB an item).

Run `EXPORTRUN#{runId}` / `RUN`, listed newest first on gsi2 `EXPORTRUNS` / `{startedAt}#{runId}`; its
outcomes `EXPORTRUN#{runId}` / `CLIENT#{customerId:012}`. Every item expires after RETENTION_DAYS.

The run's counts are top-level numbers `c#{status}#{node}` (the clients of one status at one node),
changed with ADD, so the dispatcher and any number of workers count at once without reading the run:
a client's first outcome adds one (`add_outcomes`); each later one moves its one from the old status
(and node) to the new (`settle`). They are read back into `counts_by_node`; a run recorded before the
queue kept them in a `counts_by_node` map, still read.

Every write to the run item meets the workers' settles (each a transaction on that item): a write
DynamoDB refuses for a conflicting transaction or for throughput is tried again with backoff, a bounded
number of times. A settle never undoes a final outcome with an older attempt (`_supersedes`): a late or
duplicate delivery leaves an exported client exported. Each outcome item keeps when it last changed
(`updated_at`), so the hourly sweep finds the clients whose export was lost (`queued_unchanged_since`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import TableStore, decode, decode_token, encode, encode_token, strip_keys
from timerack_bridge.adapters.dynamodb.tables import TTL_ATTRIBUTE
from timerack_bridge.domain.export_models import (
    NO_NODE,
    ClientOutcome,
    ClientStatus,
    ExportRun,
    ExportRunRecord,
    RunCounts,
)
from timerack_bridge.exceptions import UnprocessableError

logger = Logger(child=True)

RUNS_PARTITION = "EXPORTRUNS"
RUN_SK = "RUN"
OUTCOME_PREFIX = "CLIENT#"
COUNT_PREFIX = "c#"
UPDATED = "updated_at"
# Long enough to look back over a quarter's runs; an hourly run of every client would otherwise pile up.
RETENTION_DAYS = 90
MAX_BATCH_WRITE = 25
# A settle whose outcome changed between its read and its write (another delivery of the same client)
# reads again and retries; so does one DynamoDB refused for a conflicting transaction.
SETTLE_ATTEMPTS = 6
# A write of the run item DynamoDB refused for a conflicting transaction (a worker's settle) or for
# throughput: tried again this many times in all, with backoff.
RUN_WRITE_ATTEMPTS = 6
# What DynamoDB answers when a write was not made but may be made a moment later.
BUSY_CODES = frozenset(
    {"TransactionConflictException", "ThrottlingException", "ProvisionedThroughputExceededException"}
)


def run_pk(run_id: str) -> str:
    return f"EXPORTRUN#{run_id}"


def outcome_sk(customer_id: int | None) -> str:
    return f"{OUTCOME_PREFIX}{customer_id or 0:012d}"


def count_attribute(status: ClientStatus, node: str | None) -> str:
    return f"{COUNT_PREFIX}{status}#{node or NO_NODE}"


def _sortable(moment: datetime) -> str:
    # Fixed width (microseconds always present) so the index sorts by time.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ExportRunStore(TableStore):
    """Records export runs (the `ExportRuns` port) and reads them back for the API."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        pause: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        super().__init__(client, table_name)
        self.pause = pause
        self.clock = clock

    def _retried(self, write: Callable[[], Any]) -> None:
        """One write of the run item, tried again (with backoff) while DynamoDB refuses it as busy."""
        for attempt in range(RUN_WRITE_ATTEMPTS):
            try:
                write()
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in BUSY_CODES or attempt == RUN_WRITE_ATTEMPTS - 1:
                    raise
            self.pause(min(0.05 * 2**attempt, 1.0))

    # ------------------------------------------------------------ recording (the ExportRuns port)

    def start(self, run: ExportRun) -> None:
        """The run's item, without counts: they are added as its clients are."""
        item = encode(
            {
                "pk": run_pk(run.run_id),
                "sk": RUN_SK,
                "gsi2pk": RUNS_PARTITION,
                "gsi2sk": f"{_sortable(run.started_at)}#{run.run_id}",
                "run_id": run.run_id,
                "trigger": run.trigger,
                "destination": run.destination,
                "started_at": run.started_at.isoformat(),
                "updated_at": run.started_at.isoformat(),
                TTL_ATTRIBUTE: int((run.started_at + timedelta(days=RETENTION_DAYS)).timestamp()),
            }
        )
        self._retried(lambda: self.client.put_item(TableName=self.table_name, Item=item))

    def add_outcomes(self, run_id: str, outcomes: Sequence[ClientOutcome]) -> None:
        """The outcomes (25 to a BatchWriteItem, unprocessed items retried with backoff), then one
        UpdateItem adding them to the run's counts."""
        if not outcomes:
            return
        now = self.clock()
        requests = [{"PutRequest": {"Item": encode(_outcome_item(run_id, o, now))}} for o in outcomes]
        for start in range(0, len(requests), MAX_BATCH_WRITE):
            self._batch_write(requests[start : start + MAX_BATCH_WRITE])
        update = _count_update(run_id, Counter(count_attribute(o.status, o.hierarchy_node_id) for o in outcomes), now)
        self._retried(lambda: self.client.update_item(TableName=self.table_name, **update))

    def dispatched(self, run_id: str) -> None:
        now = self.clock().isoformat()
        self._retried(
            lambda: self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
                UpdateExpression="SET dispatched_at = :now, updated_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": {"S": now}},
            )
        )

    def settle(self, run_id: str, outcome: ClientOutcome) -> None:
        """Replace the client's outcome and move its count, in one transaction, if the stored outcome is
        still the one read (else read again and retry, a bounded number of times).

        An outcome that does not supersede the stored one (`_supersedes`: an older attempt's, or anything
        after the client was exported) is not written. An outcome that does not know the client's key or
        node (the customer is gone) keeps the recorded ones, so the client stays findable and counted where
        it was.
        """
        for attempt in range(SETTLE_ATTEMPTS):
            old = self.get(run_pk(run_id), outcome_sk(outcome.customer_id), consistent=True)
            if not _supersedes(outcome, old):
                assert old is not None
                fields = {"run_id": run_id, "customer_id": outcome.customer_id, "status": outcome.status}
                logger.info("outcome not recorded: the client's recorded one is final or newer", extra=fields)
                return
            try:
                self.client.transact_write_items(TransactItems=self._settle_items(run_id, _kept(outcome, old), old))
                return
            except ClientError as exc:
                if _run_missing(exc):
                    raise LookupError(f"export run {run_id} is not recorded") from None
                if not _worth_retrying(exc) or attempt == SETTLE_ATTEMPTS - 1:
                    raise
            self.pause(min(0.05 * 2**attempt, 1.0))

    def _settle_items(self, run_id: str, outcome: ClientOutcome, old: dict[str, Any] | None) -> list[dict[str, Any]]:
        now = self.clock()
        put: dict[str, Any] = {"TableName": self.table_name, "Item": encode(_outcome_item(run_id, outcome, now))}
        if old is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            # Unchanged since read: the same status, the same attempts
            same_attempts = "attempts = :attempts" if "attempts" in old else "attribute_not_exists(attempts)"
            put["ConditionExpression"] = f"#status = :status AND {same_attempts}"
            put["ExpressionAttributeNames"] = {"#status": "status"}
            put["ExpressionAttributeValues"] = {":status": {"S": old["status"]}}
            if "attempts" in old:
                put["ExpressionAttributeValues"][":attempts"] = {"N": str(old["attempts"])}
        moved: Counter[str] = Counter({count_attribute(outcome.status, outcome.hierarchy_node_id): 1})
        if old is not None:
            moved[count_attribute(old["status"], old.get("hierarchy_node_id"))] -= 1
        return [{"Put": put}, {"Update": {"TableName": self.table_name, **_count_update(run_id, moved, now)}}]

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending, attempt = requests, 0
        while pending:
            response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table_name, [])
            if pending:
                attempt += 1
                self.pause(min(0.05 * 2**attempt, 2.0))

    # ------------------------------------------------------------ reading (the worker, the sweep)

    def outcome(self, run_id: str, customer_id: int) -> ClientOutcome | None:
        """The client's outcome as recorded now (a consistent read); None when the run has none of it."""
        item = self.get(run_pk(run_id), outcome_sk(customer_id), consistent=True)
        return _outcome(item) if item else None

    def runs_started_between(self, earliest: datetime, latest: datetime, *, limit: int) -> list[ExportRunRecord]:
        """The runs started from `earliest` to `latest`, newest first, `limit` at most (a Query of gsi2)."""
        bounds = (_sortable(earliest), _sortable(latest) + "~")  # "~" sorts after any "#{runId}"
        found: list[ExportRunRecord] = []
        start: dict[str, Any] | None = None
        while len(found) < limit:
            items, start = self.query_index(
                "gsi2", RUNS_PARTITION, forward=False, limit=limit - len(found), start=start, sk_between=bounds
            )
            found += [_record(item) for item in items]
            if not start:
                break
        return found

    def queued_unchanged_since(self, run_id: str, moment: datetime) -> Iterator[ClientOutcome]:
        """The run's clients still queued whose outcome has not changed since `moment`, page by page."""
        for item in self.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression=f"#status = :queued AND (attribute_not_exists({UPDATED}) OR {UPDATED} < :moment)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pk": {"S": run_pk(run_id)},
                ":prefix": {"S": OUTCOME_PREFIX},
                ":queued": {"S": "queued"},
                ":moment": {"S": _sortable(moment)},
            },
        ):
            yield _outcome(item)

    # ------------------------------------------------------------ reading (the API)

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


def _count_update(run_id: str, changes: Counter[str], now: datetime) -> dict[str, Any]:
    """An UpdateItem of the run: ADD each count's change (none for a count unchanged), SET updated_at;
    only while the run is recorded."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":now": {"S": now.isoformat()}}
    for attribute, change in sorted(changes.items()):
        if change:
            index = len(names)
            names[f"#c{index}"], values[f":c{index}"] = attribute, {"N": str(change)}
    adds = ", ".join(f"{name} :{name[1:]}" for name in names)
    update: dict[str, Any] = {
        "Key": {"pk": {"S": run_pk(run_id)}, "sk": {"S": RUN_SK}},
        "UpdateExpression": (f"ADD {adds} " if adds else "") + "SET updated_at = :now",
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return update


def _supersedes(outcome: ClientOutcome, old: dict[str, Any] | None) -> bool:
    """Whether `outcome` may replace the recorded one: not an older attempt's (fewer attempts); nothing
    after the client was exported (its message is done with: a late or duplicate delivery changes
    nothing); and a final outcome (failed, skipped) only by a later attempt (a redriven message)."""
    if old is None:
        return True
    recorded = int(old.get("attempts", 0))
    if outcome.attempts < recorded or old["status"] == "exported":
        return False
    return old["status"] == "queued" or outcome.attempts > recorded


def _kept(outcome: ClientOutcome, old: dict[str, Any] | None) -> ClientOutcome:
    """The outcome with the recorded key and node where it knows none (its customer is gone)."""
    if old is None:
        return outcome
    kept: dict[str, Any] = {}
    if not outcome.client_key and old.get("client_key"):
        kept["client_key"] = old["client_key"]
    if outcome.hierarchy_node_id is None and old.get("hierarchy_node_id"):
        kept["hierarchy_node_id"] = old["hierarchy_node_id"]
    return outcome.model_copy(update=kept) if kept else outcome


def _reasons(exc: ClientError) -> list[str]:
    """A cancelled transaction's reason per item ("None" for an item that was fine)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    return [str(reason.get("Code")) for reason in exc.response.get("CancellationReasons", [])]


def _run_missing(exc: ClientError) -> bool:
    reasons = _reasons(exc)
    return len(reasons) == 2 and reasons[1] == "ConditionalCheckFailed"


def _worth_retrying(exc: ClientError) -> bool:
    """The outcome changed since it was read, or the transaction met another (or DynamoDB was busy)."""
    retried = {"ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
    return bool(set(_reasons(exc)) & retried) or exc.response.get("Error", {}).get("Code") in BUSY_CODES


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


def _outcome_item(run_id: str, outcome: ClientOutcome, now: datetime) -> dict[str, Any]:
    return {
        "pk": run_pk(run_id),
        "sk": outcome_sk(outcome.customer_id),
        **outcome.model_dump(mode="json"),
        # When the outcome last changed (sortable text): the sweep of lost exports compares it
        UPDATED: _sortable(now),
        TTL_ATTRIBUTE: int((now + timedelta(days=RETENTION_DAYS)).timestamp()),
    }


def _outcome(item: dict[str, Any]) -> ClientOutcome:
    return ClientOutcome(**strip_keys(item, (TTL_ATTRIBUTE, UPDATED)))


def _record(item: dict[str, Any]) -> ExportRunRecord:
    """The run with its counts per node: the `c#{status}#{node}` numbers, and a legacy `counts_by_node` map.
    A node whose counts are all zero (its one client moved to another node) is left out."""
    fields = strip_keys(item, (TTL_ATTRIBUTE,))
    counts = {node: RunCounts(**values) for node, values in fields.pop("counts_by_node", {}).items()}
    for attribute in [name for name in fields if name.startswith(COUNT_PREFIX)]:
        status, node = attribute[len(COUNT_PREFIX) :].split("#", 1)
        number, name = int(fields.pop(attribute)), status.replace("-", "_")
        if name in RunCounts.model_fields:
            node_counts = counts.setdefault(node, RunCounts())
            setattr(node_counts, name, getattr(node_counts, name) + number)
    kept = {node: c for node, c in counts.items() if any(c.model_dump().values())}
    return ExportRunRecord(**fields, counts_by_node=kept)
