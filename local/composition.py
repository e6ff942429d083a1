"""The local runtime's composition root: the product's adapters built on the moto stand-in, as the functions'
own roots build them on AWS (one `Services` and one resolver per API instance; the export dispatcher's and
the export worker's adapters for the runtime's schedule, its queue workers and `timerack-bridge export`; the
intake bucket and queue, and the intake worker's adapters, for a batch over SYNC_BATCH_TIMECARDS)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.config import IDEMPOTENCY_TABLE_NAME, MAIN_TABLE_NAME, REGION

if TYPE_CHECKING:
    from timerack_bridge.adapters.destinations import ExportDestination
    from timerack_bridge.adapters.export_queue import QueueUrls
    from timerack_bridge.api.deps import Services

ProxyHandler = Callable[[dict[str, Any]], dict[str, Any]]
SqsHandler = Callable[[dict[str, Any]], dict[str, Any]]

# The queues' name prefix on the stand-in (`{prefix}-bulk`, `{prefix}-priority` and their `-dlq`).
EXPORT_QUEUE_PREFIX = "timerack-local-export"
# How long a saved change waits on the queue before its client is exported (AWS: 10 s). Short here, so a
# PIN override shows in the outbox within seconds; EXPORT_CHANGE_DELAY_SECONDS in the environment wins.
LOCAL_CHANGE_DELAY_SECONDS = "2"
# What the runs record as their destination: the local runtime's export goes to the outbox.
LOCAL_DESTINATION = "outbox"
# The intake bucket and queue on the stand-in (the stack's IntakeJob), and the queue's redrive as the stack
# sets it (infra/stack/constants.py): the dead-letter queue after 3 receives, the worker's 5 minutes times six.
INTAKE_NAME = "timerack-local-intake"
INTAKE_MAX_RECEIVES = 3
INTAKE_VISIBILITY_SECONDS = 6 * 300


@dataclass(frozen=True)
class Intake:
    """Where the API keeps a batch over SYNC_BATCH_TIMECARDS (and uploads), and the queue of its intake worker."""

    bucket: str
    queue_url: str
    dead_letter_queue_url: str

    @property
    def variables(self) -> dict[str, str]:
        return {"INTAKE_BUCKET": self.bucket, "INTAKE_QUEUE_URL": self.queue_url}


def create_intake(s3_client: Any, sqs_client: Any, name: str = INTAKE_NAME) -> Intake:
    """The intake bucket, the intake queue and its dead-letter queue on the stand-in, as the stack makes them."""
    import json

    s3_client.create_bucket(Bucket=name)
    dead = sqs_client.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_arn = sqs_client.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dead_arn, "maxReceiveCount": INTAKE_MAX_RECEIVES}
    attributes = {"VisibilityTimeout": str(INTAKE_VISIBILITY_SECONDS), "RedrivePolicy": json.dumps(redrive)}
    url = sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return Intake(bucket=name, queue_url=url, dead_letter_queue_url=dead)


def stand_in_client(service: str, moto_url: str) -> Any:
    """A boto3 client of the stand-in (moto's server on 127.0.0.1)."""
    import boto3
    from botocore.config import Config

    # S3 signs with SigV4, as the API's client does on AWS: its presigned URLs point at the stand-in.
    signature = {"signature_version": "s3v4"} if service == "s3" else {}
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's stand-in credentials
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32, **signature),
    )


def export_queue(sqs_client: Any, queues: QueueUrls) -> Any:
    """The export queue's two lanes (the `ExportQueue` port) on the stand-in's SQS."""
    from timerack_bridge.adapters.export_queue import SqsExportQueue

    return SqsExportQueue(sqs_client, queues)


def api_services(moto_url: str, queues: QueueUrls, intake: Intake | None = None) -> Services:
    """The API's settings and adapters on the stand-in; exports are queued on the stand-in's export queues,
    and a batch over SYNC_BATCH_TIMECARDS is kept in the stand-in's intake bucket and queue."""
    from timerack_bridge.api.deps import Services
    from timerack_bridge.config import ApiSettings

    # The tables and queues are the runtime's; the rest (PAY_CODES, WEEK_ENDING_DAY, ...) as the environment sets.
    settings = ApiSettings.from_env(
        {
            "EXPORT_CHANGE_DELAY_SECONDS": LOCAL_CHANGE_DELAY_SECONDS,
            **os.environ,
            "TABLE_NAME": MAIN_TABLE_NAME,
            "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
            "EXPORT_DESTINATION": LOCAL_DESTINATION,
            "EXPORT_QUEUE_URL": queues.bulk,
            "EXPORT_PRIORITY_QUEUE_URL": queues.priority,
            **(intake.variables if intake else {}),
        }
    )
    from local.dispatch_starter import ThreadDispatchStarter

    dynamodb, sqs = stand_in_client("dynamodb", moto_url), stand_in_client("sqs", moto_url)
    stores = ExportStores.on(dynamodb, sqs, queues)
    return Services(
        settings,
        dynamodb=dynamodb,
        export_queue=stores.queue,
        # "Update From TempWorks" of many clients: the dispatcher's code on a thread (an async invoke on AWS).
        dispatch_starter=ThreadDispatchStarter(stores.admin, stores.queue, stores.runs),
        **_intake_adapters(moto_url, sqs, intake),
    )


def _intake_adapters(moto_url: str, sqs: Any, intake: Intake | None) -> dict[str, Any]:
    """The intake bucket (its presigned upload URLs point at the stand-in) and queue, on the stand-in's clients."""
    if intake is None:
        return {}
    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.adapters.intake_queue import SqsIntakeQueue

    return {
        "batch_objects": S3BatchObjects(stand_in_client("s3", moto_url), intake.bucket),
        "intake_queue": SqsIntakeQueue(sqs, intake.queue_url),
    }


def api_instance(moto_url: str, queues: QueueUrls, intake: Intake | None = None) -> ProxyHandler:
    """One API instance's cold start: its services and its own resolver; then one proxy event at a time."""
    import warnings

    from timerack_bridge.api.app import build_app
    from timerack_bridge.api.handler import handle

    # No Lambda context here: Powertools idempotency cannot read the remaining time, by design.
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    services = api_services(moto_url, queues, intake)
    app = build_app()
    return lambda event: handle(event, None, services, app)


@dataclass(frozen=True)
class ExportStores:
    """What the dispatcher reads and writes on the stand-in: the clients, the run records, the queue."""

    admin: Any
    runs: Any
    queue: Any

    @classmethod
    def on(cls, dynamodb: Any, sqs: Any, queues: QueueUrls, table_name: str = MAIN_TABLE_NAME) -> ExportStores:
        from timerack_bridge.adapters.dynamodb.admin import AdminStore
        from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore

        return cls(AdminStore(dynamodb, table_name), ExportRunStore(dynamodb, table_name), export_queue(sqs, queues))


def export_worker(
    dynamodb: Any,
    sqs: Any,
    queues: QueueUrls,
    destination: ExportDestination,
    table_name: str = MAIN_TABLE_NAME,
) -> SqsHandler:
    """The export worker function's handler with its adapters on the stand-in: one SQS event in, the
    partial batch response out, as the queue's event source mapping calls it in AWS."""
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
    from timerack_bridge.adapters.dynamodb.export_pending import PendingExportStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.export_queue import MAX_RECEIVES
    from timerack_bridge.config import ExportWorkerSettings

    variables = _worker_variables(queues, table_name)
    handler = _function_module("functions.export_worker.handler", variables)
    settings = ExportWorkerSettings.from_env({**os.environ, **variables})
    adapters = handler.WorkerAdapters(
        admin_store=AdminStore(dynamodb, table_name),
        destination=destination,
        queue=export_queue(sqs, queues),
        runs=ExportRunStore(dynamodb, table_name),
        leases=ExportLock(dynamodb, table_name, lock_seconds=settings.export_lease_seconds),
        pending=PendingExportStore(dynamodb, table_name),
        # The stand-in's queues redrive after MAX_RECEIVES, whatever EXPORT_MAX_RECEIVES says.
        max_receives=MAX_RECEIVES,
        # A change saved while its client was sent goes out after the local debounce, as the API's do.
        change_delay_seconds=int(LOCAL_CHANGE_DELAY_SECONDS),
    )
    return lambda event: dict(handler.handle_records(event, adapters))


def intake_worker(dynamodb: Any, s3: Any, sqs: Any, intake: Intake, table_name: str = MAIN_TABLE_NAME) -> SqsHandler:
    """The intake worker function's handler with its adapters on the stand-in: one SQS event (an accepted
    batch's id) in, the partial batch response out, as the intake queue's event source calls it in AWS."""
    from timerack_bridge.config import IntakeWorkerSettings

    variables = {"TABLE_NAME": table_name, **intake.variables}
    handler = _function_module("functions.intake_worker.handler", variables)
    settings = IntakeWorkerSettings.from_env({**os.environ, **variables})
    adapters = handler.build_adapters(settings, dynamodb=dynamodb, s3=s3, sqs=sqs)
    return lambda event: dict(handler.handle_records(event, adapters))


_IMPORT_LOCK = threading.Lock()


def _worker_variables(queues: QueueUrls, table_name: str) -> dict[str, str]:
    """What the stack gives the worker function, on the stand-in (its destination is handed in)."""
    return {
        "TABLE_NAME": table_name,
        "EXPORT_DESTINATION": LOCAL_DESTINATION,
        "EXPORT_OUTBOX_DIR": os.environ.get("EXPORT_OUTBOX_DIR") or "timerack-outbox",
        "EXPORT_QUEUE_URL": queues.bulk,
        "EXPORT_PRIORITY_QUEUE_URL": queues.priority,
    }


def _function_module(module: str, variables: dict[str, str]) -> Any:
    """A function's handler module (functions/<name>/handler.py), imported (its cold start reads its settings)
    with the variables the stack would give it, whatever the shell has set; then the environment as it was."""
    import importlib

    with _IMPORT_LOCK, _environment(variables):
        return importlib.import_module(module)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
