"""The local runtime: the whole product on one machine, on 127.0.0.1 only, with no AWS account.

moto's server stands in for AWS (DynamoDB with its stream, SQS, SES); the tables come from the same
definitions the CDK stack uses, and are kept in the state directory across runs. HTTP requests
become the API Gateway proxy events Lambda gets and go to the same handler, in a pool of API
instances. The export takes the path it takes in AWS: its schedule (and `POST /v1/exports`, and a
saved change) queue clients on the export queues, and queue workers hand each to the export worker's
handler, which sends it to the outbox. A batch over SYNC_BATCH_TIMECARDS is kept in the stand-in's intake
bucket and queued, and a queue worker hands it to the intake worker's handler; the API's presigned upload
URLs point at the stand-in. The mailer is fed from the stream.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.composition import (
    EXPORT_QUEUE_PREFIX,
    ExportStores,
    api_services,
    create_intake,
    export_worker,
    intake_worker,
    stand_in_client,
)
from local.config import (
    IDEMPOTENCY_TABLE_NAME,
    MAIN_TABLE_NAME,
    SENDER_EMAIL,
    RuntimeConfig,
    RuntimeInfo,
    free_port,
)
from local.gateway import Gateway, serve
from local.instances import ApiInstance, InstancePool
from local.kept_tables import KeptTables
from local.moto_stand_in import SerializedMotoServer, install_fast_transactions
from local.tokens import signing_key
from local.workers import ExportWiring, IntakeWiring, MailerOutbox, close_interrupted_runs, start_workers
from timerack_bridge.adapters.dynamodb import tables
from timerack_bridge.adapters.export_queue import create_export_queues

__all__ = ["LocalRuntime", "RuntimeConfig", "free_port"]

log = logging.getLogger("timerack_bridge.local")


@dataclass
class LocalRuntime:
    config: RuntimeConfig
    seeded: dict[str, object] = field(default_factory=dict)
    # How many items the kept tables gave back at start (0: an empty state, seeded with the demo data).
    kept_items: int = 0
    _workers: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    @property
    def outbox_dir(self) -> Path:
        return self.config.state_dir / "timerack-outbox"

    @property
    def email_dir(self) -> Path:
        return self.config.state_dir / "email-outbox"

    @property
    def tables_file(self) -> Path:
        return self.config.state_dir / "tables.json"

    def start(self) -> None:
        for directory in (self.config.state_dir, self.outbox_dir, self.email_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.key = signing_key(self.config.state_dir)
        self._start_stand_in()
        self._fill_tables()
        queues, intake = self.queues, self.intake
        self.instances = InstancePool(self.config.instances, lambda: ApiInstance(self.moto_url, queues, intake))
        self._start_workers()
        self.http = serve(Gateway(self.key, self.instances), self.config.port, self.services.settings.max_body_bytes)
        # Lets the CLI find this runtime: its API, and its stand-in and queues for `timerack-bridge export`.
        RuntimeInfo(
            self.url, self.moto_url, MAIN_TABLE_NAME, str(self.outbox_dir.resolve()), queues.bulk, queues.priority
        ).write(self.config.state_dir)

    def stop(self) -> None:
        """Stop taking requests, let the background work end, keep the tables, then stop the stand-in."""
        RuntimeInfo.path(self.config.state_dir).unlink(missing_ok=True)
        if hasattr(self, "http"):
            self.http.shutdown()
            self.http.server_close()
        if hasattr(self, "instances"):
            self.instances.stop()
        for worker in reversed(self._workers):
            worker.stop()  # the kept tables were started first: they are written last
        if hasattr(self, "moto"):
            self.moto.stop()

    def _start_stand_in(self) -> None:
        install_fast_transactions()
        moto_port = self.config.moto_port or free_port()
        self.moto = SerializedMotoServer(moto_port)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{moto_port}"
        self.dynamodb = stand_in_client("dynamodb", self.moto_url)
        tables.create_tables(self.dynamodb, MAIN_TABLE_NAME, IDEMPOTENCY_TABLE_NAME)
        self.sesv2 = stand_in_client("sesv2", self.moto_url)
        self.sesv2.create_email_identity(EmailIdentity=SENDER_EMAIL)
        # The export queues as the stack makes them (a dead-letter queue each, the same redrive); not kept
        # across runs: a client still queued when the runtime stopped is queued again by the next run.
        self.sqs = stand_in_client("sqs", self.moto_url)
        self.queues = create_export_queues(self.sqs, EXPORT_QUEUE_PREFIX)
        # The intake bucket and queue (not kept either: a batch accepted but not yet written when the runtime
        # stopped stays processing in Payroll History).
        self.s3 = stand_in_client("s3", self.moto_url)
        self.intake = create_intake(self.s3, self.sqs)

    def _fill_tables(self) -> None:
        """The kept tables (none with --fresh); the demo data only into an empty state."""
        kept = KeptTables(
            self.moto, self.tables_file, [MAIN_TABLE_NAME, IDEMPOTENCY_TABLE_NAME], self.config.keep_interval
        )
        if self.config.fresh:
            self.tables_file.unlink(missing_ok=True)
        self.kept_items = kept.load()
        self.services = api_services(self.moto_url, self.queues, self.intake)
        if self.config.seed and not self.kept_items:
            from local.seed import seed_demo

            self.seeded = seed_demo(self.services)
        kept.save()  # the state as it starts, seeded or not
        self._workers.append(kept.start())

    def _start_workers(self) -> None:
        from timerack_bridge.adapters.batch_objects import S3BatchObjects
        from timerack_bridge.adapters.destinations import OutboxDestination

        mailer = MailerOutbox(
            ses_client=self.sesv2,
            streams_client=stand_in_client("dynamodbstreams", self.moto_url),
            dynamodb_client=self.dynamodb,
            sender=SENDER_EMAIL,
            email_dir=self.email_dir,
            results=S3BatchObjects(self.s3, self.intake.bucket),
        )
        stores = ExportStores.on(self.dynamodb, self.sqs, self.queues)
        if self.kept_items and (closed := close_interrupted_runs(stores.runs)):
            log.info("%d clients of runs the last session left open are marked failed (not exported)", closed)
        export = ExportWiring(
            stores=stores,
            worker=export_worker(self.dynamodb, self.sqs, self.queues, OutboxDestination(self.outbox_dir.resolve())),
            sqs_client=self.sqs,
            queues=self.queues,
            concurrency=self.config.export_concurrency,
        )
        intake = IntakeWiring(
            worker=intake_worker(self.dynamodb, self.s3, self.sqs, self.intake),
            sqs_client=self.sqs,
            queue_url=self.intake.queue_url,
        )
        self._workers.extend(start_workers(export, self.config.export_interval, self.services.admin, mailer, intake))
