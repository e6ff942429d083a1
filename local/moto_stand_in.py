"""moto as the AWS stand-in, made safe for concurrent callers.

moto's backends are not thread-safe (a transaction deep-copies the tables while another request
may be writing them). Real DynamoDB makes each call atomic, so serializing calls keeps the same
meaning: concurrent senders still interleave between calls, exactly where races can happen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

# The DynamoDB calls that change items: after one of them the kept tables are out of date.
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class SerializedMotoServer:
    """moto's server on 127.0.0.1, one request at a time (each AWS call atomic, as in AWS)."""

    def __init__(self, port: int, region: str = "us-east-1") -> None:
        self.port = port
        self.region = region
        # How many DynamoDB writes it has served: the runtime keeps its tables when this moves.
        self.writes = 0
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with self._lock:
                if environ.get("HTTP_X_AMZ_TARGET", "").endswith(_WRITES):
                    self.writes += 1
                return list(app(environ, start_response))

        def serve() -> None:
            self._server = make_server(
                "127.0.0.1", self.port, serialized, threaded=True, request_handler=MotoRequestHandler
            )
            self._ready.set()
            self._server.serve_forever()

        self._thread = threading.Thread(target=serve, name="moto", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=10)

    def table_items(self, table_names: list[str]) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        """Every item of these tables in DynamoDB's JSON, all at one instant (between two AWS calls),
        and the write count they include."""
        with self._lock:
            backend = self._dynamodb()
            items = {
                name: [item.to_json()["Attributes"] for item in backend.get_table(name).all_items()]
                for name in table_names
            }
            return self.writes, items

    def put_table_items(self, items: dict[str, list[dict[str, Any]]]) -> None:
        """Put items back (from `table_items`) into tables that exist, as PutItem would."""
        with self._lock:
            backend = self._dynamodb()
            for name, table_items in items.items():
                for item in table_items:
                    backend.put_item(name, item)

    def _dynamodb(self) -> Any:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[DEFAULT_ACCOUNT_ID][self.region]


class SerializedClient:
    """A boto3 client whose calls run one at a time (for in-process moto in tests)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def install_fast_transactions() -> None:
    """Make moto's TransactWriteItems cost what the transaction touches, not the whole table.

    moto backs each transaction up by deep-copying every table it names, once per action, which
    makes a 5,000-timecard batch quadratic. This version keeps DynamoDB's meaning: all conditions
    are checked first against the current items, then every write is applied, or none is.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_timerack_fast_transactions", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
        errors: list[Any] = []
        for entry in transact_items:
            if len(entry) > 1:
                from moto.dynamodb.exceptions import TransactWriteSingleOpException

                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            old_item = None
            condition = op.get("ConditionExpression")
            try:
                if condition is not None:
                    check = get_filter_expression(
                        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    )
                    if not check.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            old_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=old_item)
                errors.append((None, None, None))
            except ConditionalCheckFailed as exc:
                errors.append(("ConditionalCheckFailed", str(exc.message), old_item))
            planned.append((op_type, op, table_name, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, table_name, key in planned:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )

    # moto's own method is kept, so the parity test can put it back (uninstall_fast_transactions).
    # setattr: the backend class is moto's, patched on purpose (mypy would refuse an assignment to a method).
    setattr(DynamoDBBackend, "_timerack_stock_transactions", DynamoDBBackend.transact_write_items)  # noqa: B010
    setattr(DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010
    setattr(DynamoDBBackend, "_timerack_fast_transactions", True)  # noqa: B010


def uninstall_fast_transactions() -> None:
    """Put moto's own TransactWriteItems back (tests/integration/test_transaction_parity.py)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_timerack_fast_transactions", False):
        stock = getattr(DynamoDBBackend, "_timerack_stock_transactions")  # noqa: B009
        setattr(DynamoDBBackend, "transact_write_items", stock)  # noqa: B010
        setattr(DynamoDBBackend, "_timerack_fast_transactions", False)  # noqa: B010
