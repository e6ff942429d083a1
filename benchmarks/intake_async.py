"""A 20,000-timecard batch end to end: POST (202, accepted), the intake worker, `completed` in Payroll History.

Against its floor: the same batch written synchronously (one API call, SYNC_BATCH_TIMECARDS raised to
20,000) on a fresh stand of the same shape, so the figure is what the asynchronous path costs over writing
the batch in the request (S3 body, the `processing` record, the queue message, the worker's read of it all).
Also: the batch's body and proxy-event sizes against Lambda's 6 MB synchronous event (why the upload route
exists), and the worker's CPU per timecard. One run each (a 20,000-timecard send takes minutes on moto).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any

from benchmarks.common import MAIN_TABLE, Figure, MotoClock, Stopwatch, environment, moto_stand
from benchmarks.data import batch_body, batch_event, seed_agency

SECTION = "intake (async)"
TIMECARDS = 20_000
SYNC_SIZE = 5_000  # ApiSettings' default SYNC_BATCH_TIMECARDS
LAMBDA_EVENT_BYTES = 6 * 1024 * 1024
BUCKET = "bench-intake"


def _intake_services(stand: Any, *, sync_size: int) -> tuple[Any, Any, Any, str]:
    """The stand's API services with an intake bucket and queue on the same moto."""
    import boto3

    from timerack_bridge.api import deps

    s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    url = sqs.create_queue(QueueName="bench-intake")["QueueUrl"]
    settings = stand.services.settings.model_copy(
        update={
            "sync_batch_timecards": sync_size,
            "max_batch_timecards": TIMECARDS,
            "intake_bucket": BUCKET,
            "intake_queue_url": url,
        }
    )
    return deps.Services(settings=settings, dynamodb=stand.services.dynamodb), s3, sqs, url


def _post(services: Any, body: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """The batch through the API handler: its response, wall ms and client CPU ms (moto's own taken out)."""
    from timerack_bridge.api.app import build_app
    from timerack_bridge.api.handler import handle
    from timerack_bridge.logic.intake import deferred_full_collections

    app, event = build_app(), batch_event(body)
    watch, cpu, moto = Stopwatch(), time.process_time(), MotoClock.ms
    with deferred_full_collections:
        response = handle(event, None, services, app)
    return response, watch.ms, (time.process_time() - cpu) * 1000 - (MotoClock.ms - moto)


def _worker(services: Any, s3: Any, sqs: Any, url: str) -> tuple[Any, Any]:
    """The intake worker's handler module, imported afresh as Lambda's init does, and its adapters."""
    variables = {"TABLE_NAME": MAIN_TABLE, "INTAKE_BUCKET": BUCKET, "INTAKE_QUEUE_URL": url}
    with environment(variables):
        sys.modules.pop("functions.intake_worker.handler", None)
        handler = importlib.import_module("functions.intake_worker.handler")
    return handler, handler.build_adapters(handler.settings, dynamodb=services.dynamodb, s3=s3, sqs=sqs)


def _drain(handler: Any, adapters: Any, sqs: Any, url: str) -> tuple[float, float]:
    """The queue's one message handed to the worker as its event source would: wall ms, client CPU ms."""
    message = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-intake",
    }
    watch, cpu, moto = Stopwatch(), time.process_time(), MotoClock.ms
    reply = handler.handle_records({"Records": [record]}, adapters)
    elapsed, cpu_ms = watch.ms, (time.process_time() - cpu) * 1000 - (MotoClock.ms - moto)
    if reply["batchItemFailures"]:
        raise RuntimeError(f"the intake worker reported the batch failed: {reply}")
    return elapsed, cpu_ms


def run_async() -> dict[str, Any]:
    assignments = TIMECARDS // 2
    with moto_stand() as stand:
        seed_agency(stand, clients=1, assignments_per_client=assignments, employees=False)
        services, s3, sqs, url = _intake_services(stand, sync_size=SYNC_SIZE)
        body = batch_body(assignments)
        response, accept_ms, accept_cpu = _post(services, body)
        accepted = json.loads(response["body"])
        if response["statusCode"] != 202:
            raise RuntimeError(f"the batch was not accepted: {response['statusCode']} {str(accepted)[:300]}")
        handler, adapters = _worker(services, s3, sqs, url)
        worker_ms, worker_cpu = _drain(handler, adapters, sqs, url)
        batch = services.batches.get_batch(accepted["batchId"])
        if batch is None or batch.status != "completed" or batch.counts.created != assignments:
            raise RuntimeError(f"the batch did not complete: {batch and batch.counts}")
        return {
            "accept_ms": accept_ms,
            "accept_cpu_ms": accept_cpu,
            "worker_ms": worker_ms,
            "worker_cpu_ms": worker_cpu,
            "body_bytes": len(json.dumps(body).encode()),
            "event_bytes": len(json.dumps(batch_event(body)).encode()),
        }


def run_sync() -> dict[str, Any]:
    """The floor: the same batch written in one synchronous request on a fresh stand."""
    assignments = TIMECARDS // 2
    with moto_stand() as stand:
        seed_agency(stand, clients=1, assignments_per_client=assignments, employees=False)
        services, *_ = _intake_services(stand, sync_size=TIMECARDS)
        response, ms, cpu_ms = _post(services, batch_body(assignments))
        reply = json.loads(response["body"])
        if response["statusCode"] != 200 or reply["counts"]["created"] != assignments:
            raise RuntimeError(f"the synchronous batch failed: {response['statusCode']} {str(reply)[:300]}")
        return {"ms": ms, "cpu_ms": cpu_ms}


def bench() -> list[Figure]:
    done, floor = run_async(), run_sync()
    end_to_end = done["accept_ms"] + done["worker_ms"]
    ratio = end_to_end / floor["ms"]
    return [
        Figure(
            SECTION,
            f"{TIMECARDS:,} tc: POST to completed (202, then the worker)",
            end_to_end,
            "ms",
            floor=floor["ms"],
            paired_ratio=ratio,
            target="<= 1.2x",
            holds=ratio <= 1.2,
            note=(
                f"accept {done['accept_ms']:.0f} ms (202), worker {done['worker_ms']:.0f} ms; floor: the same batch "
                "written synchronously in one request on a fresh stand (one run each, in-process moto)"
            ),
        ),
        Figure(
            SECTION,
            f"{TIMECARDS:,} tc: time to the 202",
            done["accept_ms"],
            "ms",
            note=f"client CPU {done['accept_cpu_ms']:.0f} ms: the body parsed and checked, kept in S3, record, message",
        ),
        Figure(
            SECTION,
            f"{TIMECARDS:,} tc: worker client-side CPU / timecard",
            done["worker_cpu_ms"] / TIMECARDS,
            "ms",
            floor=floor["cpu_ms"] / TIMECARDS,
            paired_ratio=done["worker_cpu_ms"] / floor["cpu_ms"],
            note="moto's own CPU taken out; floor: the synchronous request's client CPU / timecard",
        ),
        Figure(
            SECTION,
            f"{TIMECARDS:,} tc: body / proxy event",
            done["event_bytes"] / 2**20,
            "MiB",
            floor=LAMBDA_EVENT_BYTES / 2**20,
            paired_ratio=done["event_bytes"] / LAMBDA_EVENT_BYTES,
            note=(
                f"floor: Lambda's synchronous event; body {done['body_bytes'] / 2**20:.2f} MiB. An event over it "
                "never reaches the function: such a batch comes through POST /v1/timecard-batches/uploads "
                "(a presigned S3 PUT), up to API Gateway's 10 MB"
            ),
        ),
    ]
