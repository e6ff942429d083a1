"""Least privilege, proven: every AWS operation a function's code makes, against that function's role.

moto grants everything, so a missing IAM grant never fails a test on its own. The suite records each
AWS call the product makes (a wrapper on botocore's `_make_api_call`), attributes it to the Lambda
function whose code made it (the outermost product frame on the stack: the API's package, the export
dispatcher, the export worker, the mailer) and, at the end of the session, checks each against the
IAM policies of that function's role in the synthesized template:

- a call whose IAM action (TransactWriteItems is checked per action inside it, as IAM does) no
  statement of the role allows on a resource of its kind (the main table, its indexes, the
  idempotency table, a queue, ...) fails the session;
- a granted action no recorded call used is reported (some are used by AWS on the function's behalf:
  logs, X-Ray, the event source mappings; those are listed in SERVICE_GRANTS).

moto makes no KMS call, so the KMS actions the encrypted queues, secret, bucket and environments need are
not seen here: tests/infra/test_encryption.py checks each role's key actions instead.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Where a call comes from: the first of these path fragments found on the stack, outermost first.
ENTRY_POINTS: tuple[tuple[str, str], ...] = (
    ("/functions/api/", "api"),
    ("/functions/export_worker/", "export_worker"),
    ("/functions/export/", "export"),
    ("/functions/mailer/", "mailer"),
    ("/functions/intake_worker/", "intake_worker"),
    ("/timerack_bridge/api/", "api"),
    ("/timerack_bridge/logic/export_worker.py", "export_worker"),
    ("/timerack_bridge/logic/export_dispatch.py", "export"),
    ("/timerack_bridge/mail_stream.py", "mailer"),
    # The worker's flow; the API's route calls its accept_batch too, and the outermost frame (the API's) wins.
    ("/timerack_bridge/logic/intake_async.py", "intake_worker"),
)

# Granted for AWS to use on the function's behalf, never called by its code (Lambda's on-failure
# destinations send to their queue with the function's role: "sqs:SendMessage" on a failure queue).
SERVICE_GRANTS = (
    "sqs:SendMessage@failure-queue",
    "logs:*",
    "xray:*",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ChangeMessageVisibility",
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "kms:*",
    # The client's PUT of a presigned upload URL the API signs: it acts with the API's rights, never its code.
    "s3:PutObject@intake-bucket/uploads/*",
)

# The intake bucket's prefixes (timerack_bridge/adapters/batch_objects.py and the uploads): a call on an object
# under one is on "intake-bucket/<prefix>"; any other object is the export bucket's ("bucket").
INTAKE_PREFIXES = ("intake/", "results/", "uploads/")

_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_RENAMED = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "dynamodb:TransactGetItems": "dynamodb:GetItem",
    "lambda:Invoke": "lambda:InvokeFunction",
    "s3:HeadObject": "s3:GetObject",
}


@dataclass(frozen=True, order=True)
class Call:
    """One IAM action a function's code needed, on a kind of resource."""

    function: str
    action: str
    # "table", "table-index", "idempotency-table", "queue", "secret", "bucket" (the export's), "intake-bucket/<prefix>",
    # "email", "other"
    resource: str


def _iam_prefix(service_model: Any) -> str:
    return str(service_model.metadata.get("signingName") or service_model.endpoint_prefix)


def _resource_kind(service: str, params: dict[str, Any]) -> str:
    if service == "dynamodb":
        table = str(params.get("TableName", ""))
        idempotency = os.environ.get("IDEMPOTENCY_TABLE_NAME")
        if idempotency and table == idempotency:
            return "idempotency-table"
        return "table-index" if params.get("IndexName") else "table"
    if service == "s3":
        prefix = str(params.get("Key", "")).partition("/")[0] + "/"
        return f"intake-bucket/{prefix}" if prefix in INTAKE_PREFIXES else "bucket"
    return {"sqs": "queue", "secretsmanager": "secret", "s3": "bucket", "ses": "email"}.get(service, "other")


def actions_of(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The IAM actions (with resource kinds) one API call needs."""
    if service == "dynamodb" and operation == "TransactWriteItems":
        found = []
        for item in params.get("TransactItems", []):
            for kind, body in item.items():
                found.append((f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _resource_kind(service, body)))
        return found
    if service == "dynamodb" and operation in ("BatchGetItem", "BatchWriteItem"):
        tables = params.get("RequestItems", {}) or {"": {}}
        return [(f"dynamodb:{operation}", _resource_kind(service, {"TableName": t})) for t in tables]
    action = f"{service}:{operation}"
    return [(_RENAMED.get(action, action), _resource_kind(service, params))]


def function_of_stack() -> str | None:
    """The function whose code is running: the outermost product frame on the current thread's stack, below
    the nearest test frame (a test that calls the dispatcher from inside a worker's send is the dispatcher's)."""
    found = None
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename.replace(os.sep, "/")
        if "/tests/" in path:
            break
        for fragment, function in ENTRY_POINTS:
            if fragment in path:
                found = function
                break
        frame = frame.f_back
    # A thread a function's code started (a pool of writers) works for that function.
    return found or getattr(threading.current_thread(), "_least_privilege_function", None)


class CallRecorder:
    """Wraps botocore's BaseClient._make_api_call for the session; thread-safe."""

    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def recording(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            function = function_of_stack()
            if function is not None:
                service = _iam_prefix(client.meta.service_model)
                for action, kind in actions_of(service, operation_name, api_params):
                    with recorder._lock:
                        recorder.calls.add(Call(function, action, kind))
            return original(client, operation_name, api_params)

        self._original = original
        BaseClient._make_api_call = recording  # type: ignore[method-assign]
        _threads_remember_their_function()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [[c.function, c.action, c.resource] for c in sorted(self.calls)]
        path.write_text(json.dumps(rows), encoding="utf-8")


def _threads_remember_their_function() -> None:
    """A thread started by a function's code carries that function (its own stack starts afresh)."""
    original_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        thread._least_privilege_function = function_of_stack()  # type: ignore[attr-defined]
        original_start(thread)

    threading.Thread.start = start  # type: ignore[method-assign]


def load_calls(directory: Path) -> set[Call]:
    calls: set[Call] = set()
    for file in sorted(directory.glob("*.json")):
        calls.update(Call(*row) for row in json.loads(file.read_text(encoding="utf-8")))
    return calls


# ---------------------------------------------------------------- the template's side


@dataclass(frozen=True)
class Grant:
    action: str  # may hold a wildcard, as written in the policy
    resource: str  # the kind of resource, as _kind_of_resource reads it


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_failure_queue(logical_id: str) -> bool:
    """The on-failure destinations and dead-letter queues the stack names so (not the export's work queues)."""
    return any(word in logical_id for word in ("DeadLetter", "FailureQueue", "Dlq", "DLQ"))


def _kind_of_resource(resource: Any, template: dict[str, Any]) -> str:
    text = json.dumps(resource)
    for logical_id, body in template.get("Resources", {}).items():
        if logical_id not in text:
            continue
        table = "idempotency-table" if "Idempotency" in logical_id else "table"
        kind = {
            "AWS::DynamoDB::Table": table,
            "AWS::DynamoDB::GlobalTable": table,
            "AWS::SQS::Queue": "failure-queue" if _is_failure_queue(logical_id) else "queue",
            "AWS::SecretsManager::Secret": "secret",
            "AWS::S3::Bucket": "bucket",
            "AWS::SES::EmailIdentity": "email",
        }.get(body["Type"])
        if kind == "table" and "/index/" in text:
            return "table-index"
        if kind == "bucket" and logical_id.startswith("Intake"):
            return _intake_objects(resource)
        if kind is not None:
            return kind
    if "identity/" in text:
        return "email"
    return "any" if text == '"*"' else "other"


def _intake_objects(resource: Any) -> str:
    """ "intake-bucket/<prefix>*" for the objects under a prefix (an ARN joined with "/<prefix>*")."""
    joined = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else []
    suffix = joined[-1] if joined and isinstance(joined[-1], str) else ""
    return f"intake-bucket{suffix}"


def role_grants(template: dict[str, Any]) -> dict[str, set[Grant]]:
    """Each function's grants (by its folder name: api, export, export_worker, mailer) in one template."""
    resources = template.get("Resources", {})
    folder_of_role = {}
    for logical_id, body in resources.items():
        if body["Type"] == "AWS::IAM::Role":
            description = str(body.get("Properties", {}).get("Description", ""))
            if description.startswith("Timerack Bridge ") and " function " in description:
                folder_of_role[logical_id] = description.removeprefix("Timerack Bridge ").split(" function ")[0]
    grants: dict[str, set[Grant]] = {folder: set() for folder in folder_of_role.values()}
    for body in resources.values():
        if body["Type"] != "AWS::IAM::Policy":
            continue
        roles = [r.get("Ref") for r in body["Properties"].get("Roles", []) if isinstance(r, dict)]
        for role in roles:
            if role not in folder_of_role:
                continue
            for statement in body["Properties"]["PolicyDocument"]["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                for action in _as_list(statement["Action"]):
                    for resource in _as_list(statement.get("Resource", "*")):
                        grants[folder_of_role[role]].add(Grant(action, _kind_of_resource(resource, template)))
    return grants


def _allows(grant: Grant, call: Call) -> bool:
    if not fnmatch.fnmatchcase(call.action, grant.action):
        return False
    # An intake-bucket grant names its objects by prefix ("intake-bucket/results/*").
    return grant.resource == "any" or fnmatch.fnmatchcase(call.resource, grant.resource)


def missing_grants(calls: Iterable[Call], grants: dict[str, set[Grant]]) -> list[Call]:
    """The calls no statement of their function's role allows."""
    return sorted(
        call for call in calls if call.function in grants and not any(_allows(g, call) for g in grants[call.function])
    )


def unused_grants(calls: Iterable[Call], grants: dict[str, set[Grant]]) -> Iterator[tuple[str, Grant]]:
    """The grants no recorded call used (AWS's own, SERVICE_GRANTS, left out)."""
    used = list(calls)
    for function, function_grants in sorted(grants.items()):
        for grant in sorted(function_grants, key=lambda g: (g.action, g.resource)):
            if any(fnmatch.fnmatchcase(f"{grant.action}@{grant.resource}", p) for p in SERVICE_GRANTS):
                continue
            if any(fnmatch.fnmatchcase(grant.action, pattern) for pattern in SERVICE_GRANTS):
                continue
            if not any(c.function == function and _allows(grant, c) for c in used):
                yield function, grant
