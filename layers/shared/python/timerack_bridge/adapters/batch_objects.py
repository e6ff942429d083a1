"""The intake bucket (S3): accepted batch bodies, and the results of batches too big for their record.

- `intake/{batchId}.json.gz`: the body of a batch over the synchronous size, gzip-compressed, kept until the
  intake worker has written it (a lifecycle rule removes any left after 7 days).
- `results/{batchId}-{sha256 prefix}.json.gz`: a batch's per-assignment results when their gzip is too big
  for the Payroll History item (DynamoDB holds at most 400 KB an item); kept as long as Payroll History is.
- `uploads/{callerHash}/{uploadId}.json`: a batch body a caller PUT to a presigned URL (a body too big for
  Lambda's 6 MB event), removed once it is sent (a lifecycle rule removes any never sent).

The bucket is encrypted with the tenant's key by default: no call names a key.
"""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

from botocore.exceptions import ClientError

BODY_PREFIX = "intake/"
RESULTS_PREFIX = "results/"
UPLOAD_PREFIX = "uploads/"


class BatchObjectMissing(LookupError):
    """The object is not in the bucket (never stored, or already removed)."""


def body_key(batch_id: str) -> str:
    return f"{BODY_PREFIX}{batch_id}.json.gz"


def results_key(batch_id: str, results_gz: bytes) -> str:
    """Named by their content too: two runs of one batch (a redelivery beside the first) never overwrite
    the object the other's record names."""
    return f"{RESULTS_PREFIX}{batch_id}-{hashlib.sha256(results_gz).hexdigest()[:16]}.json.gz"


def upload_key(caller_hash: str, upload_id: str) -> str:
    return f"{UPLOAD_PREFIX}{caller_hash}/{upload_id}.json"


class S3BatchObjects:
    """Batch bodies and results in one bucket, on one boto3 S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def put_body(self, batch_id: str, body: bytes) -> None:
        """The request body as sent (JSON bytes), stored gzip-compressed."""
        self.s3.put_object(
            Bucket=self.bucket,
            Key=body_key(batch_id),
            Body=gzip.compress(body, compresslevel=6),
            ContentType="application/json",
            ContentEncoding="gzip",
        )

    def get_body(self, batch_id: str) -> bytes:
        """The body as sent; BatchObjectMissing when it is not stored."""
        return gzip.decompress(self._get(body_key(batch_id)))

    def delete_body(self, batch_id: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=body_key(batch_id))

    def put_results(self, batch_id: str, results_gz: bytes) -> str:
        """A batch's results, already gzip-compressed JSON; the key they are kept under."""
        key = results_key(batch_id, results_gz)
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=results_gz, ContentType="application/json", ContentEncoding="gzip"
        )
        return key

    def get_results(self, key: str) -> bytes:
        """The gzip-compressed results kept under `key`; BatchObjectMissing when they are not."""
        return self._get(key)

    def upload_url(self, key: str, expires: int) -> str:
        """A presigned PUT of `key` for `expires` seconds; the PUT must send Content-Type: application/json."""
        url: str = self.s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": "application/json"},
            ExpiresIn=expires,
            HttpMethod="PUT",
        )
        return url

    def upload_size(self, key: str) -> int:
        """The uploaded body's size in bytes; BatchObjectMissing when nothing was uploaded there."""
        try:
            reply = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise BatchObjectMissing(f"s3://{self.bucket}/{key} is not stored") from None
            raise
        return int(reply["ContentLength"])

    def get_upload(self, key: str, *, max_bytes: int) -> bytes | None:
        """The uploaded body as the caller PUT it, or None when it is over `max_bytes` (read no further than
        one byte past it: an upload replaced after its size was checked never fills the function's memory);
        BatchObjectMissing when it is not stored."""
        data = self._get(key, byte_range=f"bytes=0-{max_bytes}")
        return None if len(data) > max_bytes else data

    def delete_upload(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _get(self, key: str, *, byte_range: str | None = None) -> bytes:
        extra = {"Range": byte_range} if byte_range else {}
        try:
            reply = self.s3.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BatchObjectMissing(f"s3://{self.bucket}/{key} is not stored") from None
            raise
        data: bytes = reply["Body"].read()
        return data
