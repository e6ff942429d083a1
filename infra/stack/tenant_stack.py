"""One tenant's stack: composes the constructs, one per concern, and publishes the outputs admins need."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from infra.stack import constants
from infra.stack.api import Api
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.encryption import TenantKey
from infra.stack.export import ExportJob
from infra.stack.functions import Layers
from infra.stack.identity import Identity
from infra.stack.intake import IntakeJob
from infra.stack.mailer import Mailer
from infra.stack.monitoring import MonitoredFunction, MonitoredQueue, Monitoring

INTAKE_RUNBOOK = "docs/deploy.md, Failures: the asynchronous intake"


def stack_name(tenant: TenantConfig) -> str:
    return f"{constants.STACK_PREFIX}-{tenant.name}"


class TimerackBridgeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        tenant: TenantConfig,
        *,
        dependencies_layer_dir: Path = constants.DEPENDENCIES_LAYER_DIR,
    ) -> None:
        super().__init__(
            scope,
            stack_name(tenant),
            env=Environment(account=tenant.account, region=tenant.region),
            description=f"Timerack Bridge for tenant {tenant.name}: API, intake, hourly export, error-file mailer",
            termination_protection=tenant.termination_protection,
        )
        Tags.of(self).add("Application", constants.APPLICATION_TAG)
        Tags.of(self).add("Tenant", tenant.name)
        key = TenantKey(self, "Encryption", tenant=tenant)
        database = Database(self, "Database")
        layers = Layers(self, "Layers", dependencies_layer_dir=dependencies_layer_dir)
        identity = Identity(self, "Identity", tenant=tenant)
        export = ExportJob(self, "Export", tenant=tenant, database=database, layers=layers, key=key)
        intake = IntakeJob(self, "Intake", tenant=tenant, database=database, layers=layers, key=key)
        api = Api(
            self,
            "Api",
            tenant=tenant,
            identity=identity,
            database=database,
            layers=layers,
            export=export,
            intake=intake,
            key=key,
        )
        mailer = Mailer(self, "Mailer", tenant=tenant, database=database, layers=layers, intake=intake, key=key)
        monitoring = Monitoring(
            self,
            "Monitoring",
            tenant=tenant,
            key=key,
            functions=[
                MonitoredFunction("ApiFunction", constants.API_FUNCTION, api.function.function),
                MonitoredFunction("ExportDispatcher", constants.EXPORT_FUNCTION, export.function.function),
                MonitoredFunction("ExportWorker", constants.EXPORT_WORKER_FUNCTION, export.worker.function),
                MonitoredFunction("Mailer", constants.MAILER_FUNCTION, mailer.function.function, reads_stream=True),
                MonitoredFunction("IntakeWorker", constants.INTAKE_WORKER_FUNCTION, intake.worker.function),
            ],
            queues=[
                MonitoredQueue(
                    "ExportQueue",
                    export.bulk.queue,
                    export.bulk.dead_letter_queue,
                    max_age=constants.EXPORT_QUEUE_AGE_ALARM,
                ),
                MonitoredQueue("ExportPriorityQueue", export.priority.queue, export.priority.dead_letter_queue),
                MonitoredQueue("ExportDeadLetterQueue", export.dead_letter_queue, None),
                MonitoredQueue("MailerFailureQueue", mailer.failure_queue, None),
                MonitoredQueue(
                    "IntakeQueue",
                    intake.queue,
                    intake.dead_letter_queue,
                    max_age=constants.INTAKE_QUEUE_AGE_ALARM,
                    late="accepted batches wait for a worker: see the intake worker's errors and throttles",
                    runbook=INTAKE_RUNBOOK,
                ),
                MonitoredQueue(
                    "IntakeSweepDeadLetterQueue", intake.sweep_dead_letter_queue, None, runbook=INTAKE_RUNBOOK
                ),
            ],
            tables=[("MainTable", database.main_table), ("IdempotencyTable", database.idempotency_table)],
            rest_api=api.rest_api,
        )

        outputs = {
            "ApiUrl": (api.url, "Base URL of the API; routes are under v1/ (e.g. {ApiUrl}v1/health)"),
            "UserPoolId": (identity.user_pool.user_pool_id, "Cognito user pool that issues the API's tokens"),
            "TokenUrl": (identity.token_url, "OAuth2 token endpoint (client-credentials grant)"),
            "CognitoDomain": (identity.domain.domain_name, "Cognito hosted domain prefix"),
            "TimerackClientId": (
                identity.timerack_client.user_pool_client_id,
                "App client for Timerack (scope timerack/timecards.write)",
            ),
            "AdminClientId": (
                identity.admin_client.user_pool_client_id,
                "App client for TempWorks admins (scope timerack/admin)",
            ),
            "TableName": (database.main_table.table_name, "Main DynamoDB table"),
            "IdempotencyTableName": (database.idempotency_table.table_name, "Idempotency records of the API"),
            "AlarmTopicArn": (
                monitoring.topic.topic_arn,
                "SNS topic every alarm publishes to; subscribe on-call here",
            ),
            "DashboardName": (monitoring.dashboard_name, "The tenant's CloudWatch dashboard"),
            "KmsKeyArn": (key.key_arn, "The tenant's KMS key (queues, logs, secret, Lambda environments, bucket)"),
            "SenderEmail": (
                tenant.sender_email,
                "SES identity the error files are sent from (the regional stack creates it; verify it)",
            ),
            "ExportQueueDlqArn": (
                export.bulk.dead_letter_queue.queue_arn,
                "Dead-letter queue of the export's bulk lane: hourly-run clients that failed every attempt",
            ),
            "IntakeBucketName": (intake.bucket.bucket_name, "S3 bucket of accepted batches and big batches' results"),
            "IntakeQueueDlqArn": (
                intake.dead_letter_queue.queue_arn,
                "Dead-letter queue of the intake: accepted batches the worker failed on three times",
            ),
            "ExportPriorityQueueDlqArn": (
                export.priority.dead_letter_queue.queue_arn,
                "Dead-letter queue of the export's priority lane: manual and change-driven updates that failed",
            ),
        }
        outputs.update(identity.portal_outputs)
        if export.api_token is not None:
            outputs["TimerackApiTokenSecretArn"] = (
                export.api_token.secret_arn,
                "Secret to put Timerack's API token in (it holds a placeholder the export refuses until then)",
            )
        if export.bucket is not None:
            outputs["ExportBucketName"] = (export.bucket.bucket_name, "S3 bucket the export drops files into")
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
