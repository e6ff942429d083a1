"""Item encoding and the small set of DynamoDB calls every store shares."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from timerack_bridge.exceptions import UnprocessableError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Key = dict[str, str]
MAX_BATCH_GET = 100


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    return value


def encode(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict (floats allowed, None dropped) to DynamoDB's attribute-value form."""
    return {k: _serializer.serialize(v) for k, v in _to_dynamo(item).items()}


def _decoded(value: dict[str, Any]) -> Any:
    """One attribute value, exactly as `_from_dynamo(TypeDeserializer().deserialize(value))` gives it, in
    one pass for the common types (a batch decodes thousands of items); sets and binaries the generic way."""
    kind = next(iter(value))
    inner = value[kind]
    if kind == "S":
        return inner
    if kind == "N":
        # A whole number written as digits is that int; any other goes through the Decimal, as before.
        digits = inner[1:] if inner[:1] == "-" else inner
        return int(inner) if digits.isdigit() and digits.isascii() else _from_dynamo(_deserializer.deserialize(value))
    if kind == "M":
        return {k: _decoded(v) for k, v in inner.items()}
    if kind == "L":
        return [_decoded(v) for v in inner]
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    return _from_dynamo(_deserializer.deserialize(value))


def decode(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _decoded(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def encode_token(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key, sort_keys=True).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise UnprocessableError("nextToken is not a token this API gave out") from None
    if not isinstance(value, dict):
        raise UnprocessableError("nextToken is not a token this API gave out")
    return value


class TableStore:
    """Base of the stores: one boto3 DynamoDB client, one table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def get(self, pk: str, sk: str, *, consistent: bool = False) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table_name, Key=key(pk, sk), ConsistentRead=consistent)
        item = response.get("Item")
        return decode(item) if item else None

    def put(self, item: dict[str, Any], **kwargs: Any) -> None:
        self.client.put_item(TableName=self.table_name, Item=encode(item), **kwargs)

    def batch_get(self, keys: Sequence[tuple[str, str]], *, workers: int = 1) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk) in the order of the keys, 100 keys a call, unprocessed keys retried with
        backoff. With workers > 1 the calls run on that many threads at most (a boto3 client is
        thread-safe); the result is the same either way."""
        unique = list(dict.fromkeys(keys))
        chunks = [unique[start : start + MAX_BATCH_GET] for start in range(0, len(unique), MAX_BATCH_GET)]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if workers > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
                for part in pool.map(self._batch_get_chunk, chunks):
                    found.update(part)
        else:
            for chunk in chunks:
                found.update(self._batch_get_chunk(chunk))
        # DynamoDB answers in no particular order: the keys' order makes the result deterministic.
        return {k: found[k] for k in unique if k in found}

    def _batch_get_chunk(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """One BatchGetItem of at most 100 keys, then its unprocessed keys until none is left."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending: list[dict[str, Any]] = [key(pk, sk) for pk, sk in keys]
        attempt = 0
        while pending:
            response = self.client.batch_get_item(
                RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
            )
            for raw in response.get("Responses", {}).get(self.table_name, []):
                item = decode(raw)
                found[(item["pk"], item["sk"])] = item
            pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
            if pending:
                attempt += 1
                time.sleep(min(0.05 * 2**attempt, 2.0))
        return found

    def query_pages(self, **kwargs: Any) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Pages of a Query as (items, last evaluated key)."""
        params = {"TableName": self.table_name, **kwargs}
        while True:
            response = self.client.query(**params)
            last = response.get("LastEvaluatedKey")
            yield [decode(i) for i in response.get("Items", [])], last
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def query_all(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for items, _ in self.query_pages(**kwargs):
            yield from items

    def query_partition(self, pk: str, sk_prefix: str | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix is not None:
            condition += " AND begins_with(sk, :sk)"
            values[":sk"] = {"S": sk_prefix}
        return self.query_all(KeyConditionExpression=condition, ExpressionAttributeValues=values, **kwargs)

    def query_index(
        self,
        index: str,
        partition: str,
        *,
        forward: bool = True,
        limit: int | None = None,
        start: dict[str, Any] | None = None,
        sk_between: tuple[str, str] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of an index partition (with `sk_between`: of the sort keys in that inclusive range)."""
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": partition}},
            "ScanIndexForward": forward,
        }
        if sk_between is not None:
            params["KeyConditionExpression"] += f" AND {index}sk BETWEEN :low AND :high"
            params["ExpressionAttributeValues"].update({":low": {"S": sk_between[0]}, ":high": {"S": sk_between[1]}})
        if limit:
            params["Limit"] = limit
        if start:
            params["ExclusiveStartKey"] = _checked_start(index, partition, start)
        response = self.client.query(**params)
        return [decode(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

    def iter_index(self, index: str, partition: str, sk_prefix: str | None = None) -> Iterator[dict[str, Any]]:
        """Every item of an index partition (those whose sort key starts with `sk_prefix`), page by page."""
        condition, values = f"{index}pk = :pk", {":pk": {"S": partition}}
        if sk_prefix is not None:
            condition += f" AND begins_with({index}sk, :prefix)"
            values[":prefix"] = {"S": sk_prefix}
        return self.query_all(IndexName=index, KeyConditionExpression=condition, ExpressionAttributeValues=values)


def _checked_start(index: str, partition: str, start: dict[str, Any]) -> dict[str, Any]:
    """A nextToken's key, if it is one this query gave out: the table and index keys, as text, of this
    partition. Anything else would reach DynamoDB as a malformed key (a 5xx) or start elsewhere."""
    names = {"pk", "sk", f"{index}pk", f"{index}sk"}
    well_formed = set(start) == names and all(
        isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str) for value in start.values()
    )
    if not well_formed or start[f"{index}pk"]["S"] != partition:
        raise UnprocessableError("nextToken is not a token this API gave out")
    return start


def strip_keys(item: dict[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """The item without its key and index attributes."""
    drop = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "entity", *extra}
    return {k: v for k, v in item.items() if k not in drop}
