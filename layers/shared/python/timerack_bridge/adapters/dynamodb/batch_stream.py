"""A record of the table's stream back to the batch it carries, with the error-file setting kept on it."""

from __future__ import annotations

import base64
from typing import Any

from timerack_bridge.adapters.dynamodb.payroll_history import (
    ResultsReader,
    batch_from_item,
    decode_image,
    stored_error_file,
)
from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record
from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.logic.ports import StoredBatch


def error_file_batch(raw_record: dict[str, Any], bucket: ResultsReader | None = None) -> StoredBatch | None:
    """The completed batch with errors a stream record carries; None for any other record.

    `bucket`: where a big batch's results are read from (its record names them: `results_s3`)."""
    # The AWS filter already narrows the stream; checked again for redeliveries and the local runtime.
    if not is_error_file_record(raw_record):
        return None
    item = decode_image(_image_with_bytes(raw_record["dynamodb"]["NewImage"]))
    return StoredBatch(batch=batch_from_item(item, bucket), error_file=stored_error_file(item))


def batch_from_stream_image(new_image: dict[str, Any], bucket: ResultsReader | None = None) -> BatchResult:
    """A batch record's stream NewImage (Lambda's JSON shape, binaries in base64) back to the model."""
    return batch_from_item(decode_image(_image_with_bytes(new_image)), bucket)


def _image_with_bytes(image: dict[str, Any]) -> dict[str, Any]:
    """Lambda delivers binary attributes base64-encoded in JSON; boto3's deserializer wants bytes."""
    return {name: _attribute_with_bytes(value) for name, value in image.items()}


def _attribute_with_bytes(value: dict[str, Any]) -> dict[str, Any]:
    if "B" in value and isinstance(value["B"], str):
        return {"B": base64.b64decode(value["B"])}
    if "BS" in value:
        return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
    if "M" in value:
        return {"M": _image_with_bytes(value["M"])}
    if "L" in value:
        return {"L": [_attribute_with_bytes(v) for v in value["L"]]}
    return value
