"""One tenant's stack: composes the constructs, one per concern, and publishes the outputs admins need."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from infra.stack import constants
from infra.stack.api import Api
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.export import ExportJob
from infra.stack.functions import Layers
from infra.stack.identity import Identity
from infra.stack.mailer import Mailer
from infra.stack.monitoring import Monitoring


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
            description=f"Timerack Bridge for tenant {tenant.name}: API, hourly export, error-file mailer",
            termination_protection=tenant.termination_protection,
        )
        Tags.of(self).add("Application", constants.APPLICATION_TAG)
        Tags.of(self).add("Tenant", tenant.name)
        database = Database(self, "Database")
        layers = Layers(self, "Layers", dependencies_layer_dir=dependencies_layer_dir)
        identity = Identity(self, "Identity", tenant=tenant)
        export = ExportJob(self, "Export", tenant=tenant, database=database, layers=layers)
        api = Api(self, "Api", tenant=tenant, identity=identity, database=database, layers=layers, export=export)
        mailer = Mailer(self, "Mailer", tenant=tenant, database=database, layers=layers)
        monitoring = Monitoring(
            self,
            "Monitoring",
            tenant=tenant,
            functions=[
                ("Api", api.function.function),
                ("Export", export.function.function),
                ("Mailer", mailer.function.function),
            ],
            dead_letter_queues=[
                ("ExportDeadLetterQueue", export.dead_letter_queue),
                ("MailerFailureQueue", mailer.failure_queue),
            ],
            stream_consumer=mailer.function.function,
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
            "TimerackApiTokenSecretArn": (
                export.api_token.secret_arn,
                "Secret to put Timerack's API token in",
            ),
            "SenderEmail": (tenant.sender_email, "SES identity the error files are sent from (verify it)"),
        }
        outputs.update(identity.portal_outputs)
        if export.bucket is not None:
            outputs["ExportBucketName"] = (export.bucket.bucket_name, "S3 bucket the export drops files into")
        for output_id, (value, description) in outputs.items():
            CfnOutput(self, output_id, value=value, description=description)
