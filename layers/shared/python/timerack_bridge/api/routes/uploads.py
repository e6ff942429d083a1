"""Batch uploads: a body too big for one request goes to S3 by a presigned PUT, then is sent by its upload id.

API Gateway takes a body of 10 MB, but its Lambda proxy hands the function an event of 6 MB at most, with the
body in it as an escaped JSON string: a batch of 20,000 timecards never reaches the function. So the caller
asks for an upload (a presigned PUT to the intake bucket, 15 minutes), PUTs the batch there, then sends it by
its id; the send is the batch route's own (200 up to SYNC_BATCH_TIMECARDS, 202 above).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from timerack_bridge.adapters.batch_objects import BatchObjectMissing, upload_key
from timerack_bridge.api.models.input import TimecardBatchIn
from timerack_bridge.api.models.output import BatchUploadOut
from timerack_bridge.api.routes.common import caller, services_of, timerack_access
from timerack_bridge.api.swagger import TIMECARDS
from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.exceptions import ConflictError, NotFoundError, PayloadTooLargeError

if TYPE_CHECKING:
    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.api.deps import Services

router = Router()
logger = Logger(child=True)

UPLOADS = "/v1/timecard-batches/uploads"
# How long a presigned PUT may be used: long enough for a slow link to send 10 MB.
UPLOAD_SECONDS = 15 * 60
# An upload id is a UUID's 32 hex digits: nothing else can name an object of the bucket.
UPLOAD_ID_PATTERN = r"^[0-9a-f]{32}$"
UPLOAD_HEADERS = {"Content-Type": "application/json"}
NO_BUCKET = (
    "batch uploads are not available: this API has no intake bucket (INTAKE_BUCKET is not set); "
    "send the batch to POST /v1/timecard-batches"
)
UPLOAD_REPLIES: dict[int, Any] = {
    201: {"description": "Where to PUT the batch: uploadUrl, method, the headers to send, expiresAt, maxBytes."},
}
SEND_REPLIES: dict[int, Any] = {
    200: {"description": "The batch's results, as POST /v1/timecard-batches answers them."},
    202: {"description": "A batch over SYNC_BATCH_TIMECARDS is accepted: its batchId; Payroll History shows it."},
}


def caller_hash(principal: str) -> str:
    """The caller's folder of the bucket: an upload can be sent only by the caller who asked for it."""
    return hashlib.sha256(principal.encode()).hexdigest()[:16]


def upload_objects(services: Services) -> S3BatchObjects:
    """The intake bucket's objects; a 404 saying why when the API has no intake bucket."""
    if not services.settings.intake_bucket:
        raise NotFoundError(NO_BUCKET)
    return services.batch_objects


@router.post(
    UPLOADS,
    tags=[TIMECARDS],
    summary="Ask where to upload a batch too big for one request",
    description=(
        "For a batch whose body is over 5 MB (Lambda takes a request of 6 MB at most): answers 201 with a "
        "presigned uploadUrl, valid 15 minutes, to PUT the batch's JSON to (with the headers given, at most "
        "maxBytes), then POST /v1/timecard-batches/uploads/{uploadId} sends it. Timerack service reps in the "
        "security group only (403 otherwise); 404 where the API has no intake bucket."
    ),
    responses=UPLOAD_REPLIES,
)
def post_batch_upload() -> Response[BatchUploadOut]:
    timerack_access(router)
    services = services_of(router)
    objects = upload_objects(services)
    upload_id = uuid.uuid4().hex
    key = upload_key(caller_hash(caller(router).principal), upload_id)
    upload = BatchUploadOut(
        upload_id=upload_id,
        upload_url=objects.upload_url(key, UPLOAD_SECONDS),
        headers=UPLOAD_HEADERS,
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=UPLOAD_SECONDS),
        max_bytes=services.settings.max_body_bytes,
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=upload)


@router.post(
    f"{UPLOADS}/<upload_id>",
    tags=[TIMECARDS],
    summary="Send an uploaded batch to TempWorks",
    description=(
        '"Send to TempWorks" of the batch PUT to an upload\'s URL: answered as POST /v1/timecard-batches '
        "answers (200 with the results, or 202 with the batchId above SYNC_BATCH_TIMECARDS); dryRun=true checks "
        "without writing. The upload is removed once sent: sent again, it is a 404, but with the same "
        "Idempotency-Key the first answer comes again. Only the caller who asked for the upload may send it; "
        "nothing uploaded (or another caller's upload) 404; over maxBytes 413; a malformed batch 422."
    ),
    responses=SEND_REPLIES,
)
def post_uploaded_batch(
    upload_id: Annotated[str, Path(pattern=UPLOAD_ID_PATTERN)],
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> Response[Any]:
    timerack_access(router)
    services = services_of(router)
    objects = upload_objects(services)
    principal = caller(router).principal
    key = upload_key(caller_hash(principal), upload_id)

    def send() -> Response[Any]:
        return send_upload(services, objects, key, upload_id, dry_run=dry_run)

    if not idempotency_key or dry_run:
        return send()
    # The key is looked up before the upload is read: a repeat after the upload was sent (and removed)
    # answers the first reply. Another upload with the same key is a 422.
    return replay_or_send(services, f"{principal}|upload|{idempotency_key}", upload_id, send)


def send_upload(
    services: Services, objects: S3BatchObjects, key: str, upload_id: str, *, dry_run: bool
) -> Response[Any]:
    """Read the upload, check it as the batch route does, send it; the upload is removed once sent."""
    from timerack_bridge.api.routes.timecards import send_timecard_batch

    limit = services.settings.max_body_bytes
    try:
        size = objects.upload_size(key)
        # An empty upload is read as empty (S3 refuses a ranged GET of nothing): the batch model then says why.
        body_bytes = (objects.get_upload(key, max_bytes=limit) if size else b"") if size <= limit else None
    except BatchObjectMissing:
        raise NotFoundError(f"upload {upload_id} could not be found: nothing was uploaded, or it was sent") from None
    if body_bytes is None:
        _remove_upload(objects, key, upload_id)  # never sendable: not left for a day
        raise PayloadTooLargeError(f"upload {upload_id} is over {limit} bytes; a batch may be at most {limit} bytes")
    body = TimecardBatchIn.model_validate_json(body_bytes)  # a malformed batch: 422, as the batch route's
    reply = as_response(send_timecard_batch(router, body, body_bytes, dry_run=dry_run, idempotency_key=None))
    if not dry_run and reply.status_code < 300:
        _remove_upload(objects, key, upload_id)
    return reply


def _remove_upload(objects: S3BatchObjects, key: str, upload_id: str) -> None:
    """The upload removed (sent, or too big to send); a failure is logged, never answered: a sent batch is kept,
    so a 5xx would have Timerack send it again (the bucket's lifecycle removes the upload within a day)."""
    try:
        objects.delete_upload(key)
    except (BotoCoreError, ClientError, RuntimeError) as exc:
        logger.warning(
            "a sent upload could not be removed", extra={"upload_id": upload_id, "error": type(exc).__name__}
        )


def as_response(reply: Any) -> Response[Any]:
    """The batch route's reply (its results, or a Response such as the 202) as one Response."""
    if isinstance(reply, Response):
        return reply
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=reply)


def replay_or_send(services: Services, key: str, upload_id: str, send: Any) -> Response[Any]:
    """The first answer to this key: `send`'s if the key has none, else the reply kept for it."""
    sent: list[Response[Any]] = []

    def send_once() -> dict[str, Any]:
        sent.append(send())
        return kept_reply(sent[0])

    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError

    try:
        kept = services.idempotency.remember(key, {"uploadId": upload_id}, send_once, router.lambda_context)
    except IdempotencyPersistenceLayerError:
        if not sent:
            raise  # the key could not be read or claimed: nothing was sent
        return sent[0]  # sent, only its reply not kept: answer it (a 5xx would have the caller send it again)
    return sent[0] if sent else replayed(services, kept)


def kept_reply(reply: Response[Any]) -> dict[str, Any]:
    """What the key keeps: a 200's batch id (its results are in Payroll History), a 202's whole body and headers."""
    body = reply.body
    if isinstance(body, BatchResult):
        return {"status": reply.status_code, "batchId": body.batch_id}
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", by_alias=True)
    elif isinstance(body, (str, bytes)):
        body = json.loads(body)
    headers = {name: value for name, value in reply.headers.items() if isinstance(value, str)}
    return {"status": reply.status_code, "body": body, "headers": headers}


def replayed(services: Services, kept: dict[str, Any]) -> Response[Any]:
    if "body" in kept:
        return Response(
            status_code=kept["status"],
            content_type=content_types.APPLICATION_JSON,
            body=kept["body"],
            headers=kept.get("headers") or None,
        )
    batch = services.batches.get_batch(kept["batchId"])
    if batch is None:
        raise ConflictError(
            f"this Idempotency-Key answered batch {kept['batchId']}, which Payroll History no longer holds; "
            "use a new key"
        )
    return Response(status_code=kept["status"], content_type=content_types.APPLICATION_JSON, body=batch)
