"""Alarms on function errors and throttles, dead-letter depth, stream lag and API 5xx, all to one
encrypted SNS topic that operators subscribe to."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        functions: Sequence[tuple[str, lambda_.IFunction]],
        dead_letter_queues: Sequence[tuple[str, sqs.IQueue]],
        stream_consumer: lambda_.IFunction,
        rest_api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key, hence a key of our own.
        self.key = kms.Key(
            self,
            "AlarmTopicKey",
            enable_key_rotation=True,
            description=f"Timerack Bridge alarms ({tenant.name})",
        )
        self.key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Timerack Bridge alarms ({tenant.name})",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The topic policy that enforce_ssl writes replaces SNS's default one, so CloudWatch
        # needs its own allow (limited to this account's alarms).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                    "ArnLike": {
                        "aws:SourceArn": Stack.of(self).format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for name, function in functions:
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=constants.ALARM_PERIOD),
                f"The {name} function failed",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=constants.ALARM_PERIOD),
                f"The {name} function was throttled",
            )
        for name, queue in dead_letter_queues:
            self._alarm(
                f"{name}Depth",
                queue.metric_approximate_number_of_messages_visible(
                    period=constants.ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                ),
                f"{name} holds failed work to inspect and redrive",
            )
        self._alarm(
            "MailerIteratorAge",
            stream_consumer.metric("IteratorAge", period=constants.ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM),
            "The mailer is falling behind the table's stream",
            threshold=constants.MAILER_ITERATOR_AGE_ALARM.to_milliseconds(),
        )
        self._alarm(
            "Api5xx",
            rest_api.metric_server_error(period=constants.ALARM_PERIOD),
            "The API answered with server errors",
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)
