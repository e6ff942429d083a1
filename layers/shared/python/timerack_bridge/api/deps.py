"""What the routes need (settings, stores, the export queue): built by the API's composition root.

Nothing here is global: functions/api/handler.py builds one `Services` per cold start and hands it to
every request (the local runtime and the tests build their own); routes reach it with `services_of`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from timerack_bridge.config import ApiSettings

if TYPE_CHECKING:
    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.adapters.dynamodb.accepted_batches import AcceptedBatchStore
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_pending import PendingExportStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.dynamodb.idempotency import IdempotentSends
    from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
    from timerack_bridge.adapters.dynamodb.timecards import TimecardStore
    from timerack_bridge.logic.ports import DispatchStarter, ExportQueue, IntakeQueue


class Services:
    """The API's settings and adapters; the AWS clients are built on first use (a health check needs none).

    The API never sends an export: "Update From TempWorks" of one client and saved changes put clients on
    the export queue (`export_queue`), and the export workers send them; "Update From TempWorks" of many
    clients is handed to the export dispatcher (`dispatch_starter`), which queues them.
    """

    def __init__(
        self,
        settings: ApiSettings,
        dynamodb: Any | None = None,
        export_queue: ExportQueue | None = None,
        dispatch_starter: DispatchStarter | None = None,
        batch_objects: S3BatchObjects | None = None,
        intake_queue: IntakeQueue | None = None,
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        # None: SQS on the settings' queue URLs, built on the first request that queues a client.
        self._export_queue = export_queue
        # None: an async invoke of the settings' EXPORT_DISPATCHER_FUNCTION, built on first use.
        self._dispatch_starter = dispatch_starter
        # None: S3 and SQS on the settings' INTAKE_BUCKET and INTAKE_QUEUE_URL, built on the first batch over
        # SYNC_BATCH_TIMECARDS (the route refuses one when either is unset).
        self._batch_objects = batch_objects
        self._intake_queue = intake_queue

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = dynamodb_client()
        return self._dynamodb

    @cached_property
    def admin(self) -> AdminStore:
        from timerack_bridge.adapters.dynamodb.admin import AdminStore

        return AdminStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def batches(self) -> PayrollHistoryStore:
        from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore

        # A batch too big for its record keeps its results in the intake bucket (when the API has one).
        objects = _ResultsBucket(self) if self.settings.intake_bucket else None
        return PayrollHistoryStore(self.dynamodb, self.settings.table_name, objects)

    @cached_property
    def timecards(self) -> TimecardStore:
        from timerack_bridge.adapters.dynamodb.timecards import TimecardStore

        return TimecardStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def export_runs(self) -> ExportRunStore:
        from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore

        return ExportRunStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def idempotency(self) -> IdempotentSends:
        # Loaded by the first batch with a key, not at cold start (Powertools' JMESPath stack).
        from timerack_bridge.adapters.dynamodb.idempotency import IdempotentSends

        settings = self.settings
        return IdempotentSends(
            self.dynamodb, settings.idempotency_table_name, ttl_seconds=settings.idempotency_ttl_seconds
        )

    @property
    def export_queue(self) -> ExportQueue:
        if self._export_queue is None:
            from timerack_bridge.adapters.export_queue import QueueUrls, SqsExportQueue

            urls = QueueUrls(bulk=self.settings.export_queue_url, priority=self.settings.export_priority_queue_url)
            self._export_queue = SqsExportQueue(sqs_client(), urls)
        return self._export_queue

    @property
    def dispatch_starter(self) -> DispatchStarter:
        """What hands a run of many clients to the export dispatcher; DispatchStartError when the API has
        none (no EXPORT_DISPATCHER_FUNCTION, and none handed in)."""
        if self._dispatch_starter is None:
            from timerack_bridge.adapters.dispatch_starter import LambdaDispatchStarter
            from timerack_bridge.logic.ports import DispatchStartError

            name = self.settings.export_dispatcher_function
            if name is None:
                raise DispatchStartError("the API has no export dispatcher (EXPORT_DISPATCHER_FUNCTION is not set)")
            self._dispatch_starter = LambdaDispatchStarter(lambda_client(), name)
        return self._dispatch_starter

    @property
    def batch_objects(self) -> S3BatchObjects:
        """The intake bucket (accepted bodies); only asked for when INTAKE_BUCKET is set."""
        if self._batch_objects is None:
            from timerack_bridge.adapters.batch_objects import S3BatchObjects

            assert self.settings.intake_bucket is not None
            self._batch_objects = S3BatchObjects(s3_client(), self.settings.intake_bucket)
        return self._batch_objects

    @property
    def intake_queue(self) -> IntakeQueue:
        """The intake worker's queue; only asked for when INTAKE_QUEUE_URL is set."""
        if self._intake_queue is None:
            from timerack_bridge.adapters.intake_queue import SqsIntakeQueue

            assert self.settings.intake_queue_url is not None
            self._intake_queue = SqsIntakeQueue(sqs_client(), self.settings.intake_queue_url)
        return self._intake_queue

    @cached_property
    def accepted_batches(self) -> AcceptedBatchStore:
        from timerack_bridge.adapters.dynamodb.accepted_batches import AcceptedBatchStore

        return AcceptedBatchStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def pending_exports(self) -> PendingExportStore:
        from timerack_bridge.adapters.dynamodb.export_pending import PendingExportStore

        return PendingExportStore(self.dynamodb, self.settings.table_name)


class _ResultsBucket:
    """Payroll History's big results in `Services.batch_objects`, reached only by a batch that has them:
    most requests never build the S3 client."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def put_results(self, batch_id: str, results_gz: bytes) -> str:
        return self._services.batch_objects.put_results(batch_id, results_gz)

    def get_results(self, key: str) -> bytes:
        return self._services.batch_objects.get_results(key)


def dynamodb_client() -> Any:
    """The API function's DynamoDB client."""
    import boto3
    from botocore.config import Config

    # No client-side parameter validation: it walks every attribute of every item of every call
    # (a fifth to a quarter of a batch's client CPU), and DynamoDB validates each request anyway. What
    # reaches the client is built by the stores from pydantic models that already bound every input.
    return boto3.client(
        "dynamodb",
        config=Config(
            retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=32, parameter_validation=False
        ),
    )


def sqs_client() -> Any:
    """The API function's SQS client (the export queue)."""
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 4}))


def s3_client() -> Any:
    """The API function's S3 client (the intake bucket)."""
    import boto3
    from botocore.config import Config

    # SigV4, presigned upload URLs too: S3 refuses SigV2 on the bucket's KMS-encrypted objects.
    config = Config(retries={"mode": "standard", "max_attempts": 4}, signature_version="s3v4")
    return boto3.client("s3", config=config)


def lambda_client() -> Any:
    """The API function's Lambda client (the export dispatcher's async invoke): a throttled invoke is
    retried, briefly; the whole call stays far within the API's 28 s."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5),
    )


def build_services(settings: ApiSettings) -> Services:
    """The API's adapters for these settings, on the API function's own DynamoDB client (built on first use)."""
    return Services(settings)
