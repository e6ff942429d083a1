"""What operators see: one CloudWatch dashboard per tenant and the alarms, built with cdk-monitoring-constructs
(`MonitoringFacade`), every alarm to one SNS topic encrypted with the tenant's key.

Alarms (each fires on the first occurrence, missing data is not breaching):
- each function's errors and throttles; the mailer's iterator age (it falls behind the table's stream);
- every dead-letter queue: a message in it (depth) and a message left in it for a day (its age);
- the bulk export lane's oldest message past 50 minutes (the hourly drain will not finish before the next run);
- the intake queue's oldest message past 10 minutes (accepted batches wait for a worker);
- API 5xx (dimensions ApiName `TimerackBridge-<tenant>` and Stage);
- the business failures the functions publish (namespace `TimerackBridge/<tenant>`, per function `service`):
  clients whose export failed for good in an hour (the worker's `failed`), clients the dispatcher could not
  queue (`failures`), error-file mails SES refused (the mailer's `ErrorFileSendFailed`).

Alarm and dashboard names start with `TimerackBridge-<tenant>`: tenants of one account and region never
collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from cdk_monitoring_constructs import (
    AlarmFactoryDefaults,
    CustomMetricGroup,
    CustomMetricWithAlarm,
    CustomThreshold,
    DefaultDashboardFactory,
    ErrorCountThreshold,
    MaxAgeThreshold,
    MaxMessageAgeThreshold,
    MaxMessageCountThreshold,
    MetricFactoryDefaults,
    MonitoringFacade,
    SnsAlarmActionStrategy,
)
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.encryption import TenantKey

AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING
# Every alarm's name: `TimerackBridge-<tenant>-<what>-<metric>-<level>`; one level (the topic pages on-call).
LEVEL = "Alarm"


@dataclass(frozen=True)
class MonitoredFunction:
    name: str  # in the alarm names and on the dashboard: ApiFunction, ExportDispatcher, ...
    folder: str  # functions/<folder>: its Powertools service is TenantConfig.service_name(folder)
    function: lambda_.IFunction
    reads_stream: bool = False


@dataclass(frozen=True)
class MonitoredQueue:
    name: str
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue | None  # None: the queue is itself a dead-letter (or on-failure) queue
    max_age: Duration | None = None  # an alarm on the work queue's oldest message
    runbook: str = "docs/export.md, Runbook"  # where a dead-lettered message's redrive is explained
    # What that alarm means to on-call (the export's bulk lane by default).
    late: str = (
        "the hourly drain will not finish before the next run: raise exportConcurrency or look at Timerack's latency"
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        key: TenantKey,
        functions: Sequence[MonitoredFunction],
        queues: Sequence[MonitoredQueue],
        tables: Sequence[tuple[str, dynamodb.ITable]],
        rest_api: apigw.RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self._tenant = tenant
        self.topic = self._alarm_topic(tenant, key)
        self.dashboard_name = tenant.resource_prefix
        self.facade = MonitoringFacade(
            self,
            "Facade",
            alarm_factory_defaults=AlarmFactoryDefaults(
                alarm_name_prefix=tenant.resource_prefix,
                actions_enabled=True,
                action=SnsAlarmActionStrategy(on_alarm_topic=self.topic),
                evaluation_periods=1,
                datapoints_to_alarm=1,
            ),
            metric_factory_defaults=MetricFactoryDefaults(period=constants.ALARM_PERIOD),
            dashboard_factory=DefaultDashboardFactory(
                self, "Dashboards", dashboard_name_prefix=self.dashboard_name, create_dashboard=True
            ),
        )
        self.facade.add_large_header(f"Timerack Bridge: {tenant.name}")
        self._business_metrics(functions)
        for function in functions:
            self._function(function)
        for queue in queues:
            self._queue(queue)
        self.facade.monitor_api_gateway(
            api=rest_api,
            api_stage=constants.API_STAGE_NAME,
            alarm_friendly_name="RestApi",
            human_readable_name=f"API Gateway {tenant.resource_prefix} (stage {constants.API_STAGE_NAME})",
            add5_xx_fault_count_alarm={
                LEVEL: ErrorCountThreshold(
                    max_error_count=1,
                    comparison_operator_override=AT_LEAST,
                    treat_missing_data_override=NOT_BREACHING,
                    alarm_description_override="The API answered with server errors (5xx): see the API "
                    "function's errors and logs",
                )
            },
        )
        for name, table in tables:
            self.facade.monitor_dynamo_table(
                table=table,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                alarm_friendly_name=name,
                human_readable_name=f"DynamoDB {name}",
            )

    def _alarm_topic(self, tenant: TenantConfig, key: TenantKey) -> sns.Topic:
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key, hence the tenant's own key
        # (its policy lets cloudwatch.amazonaws.com use it: infra/stack/encryption.py).
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Timerack Bridge alarms ({tenant.name})",
            master_key=key.key,
            enforce_ssl=True,
        )
        # The topic policy that enforce_ssl writes replaces SNS's default one, so CloudWatch
        # needs its own allow (limited to this account's alarms).
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        return topic

    def _function(self, monitored: MonitoredFunction) -> None:
        def count(description: str) -> dict[str, ErrorCountThreshold]:
            return {
                LEVEL: ErrorCountThreshold(
                    max_error_count=1,
                    comparison_operator_override=AT_LEAST,
                    treat_missing_data_override=NOT_BREACHING,
                    alarm_description_override=description,
                )
            }

        iterator = (
            {
                LEVEL: MaxAgeThreshold(
                    max_age_in_millis=constants.MAILER_ITERATOR_AGE_ALARM.to_milliseconds(),
                    comparison_operator_override=AT_LEAST,
                    treat_missing_data_override=NOT_BREACHING,
                    alarm_description_override=f"The {monitored.name} function is falling behind the table's stream",
                )
            }
            if monitored.reads_stream
            else None
        )
        self.facade.monitor_lambda_function(
            lambda_function=monitored.function,
            alarm_friendly_name=monitored.name,
            human_readable_name=f"Lambda {monitored.name} ({monitored.folder})",
            is_iterator=monitored.reads_stream or None,
            add_fault_count_alarm=count(f"The {monitored.name} function failed: see its log group"),
            add_throttles_count_alarm=count(
                f"The {monitored.name} function was throttled: the account's Lambda concurrency is exhausted"
            ),
            add_max_iterator_age_alarm=iterator,
        )

    def _queue(self, monitored: MonitoredQueue) -> None:
        def depth(what: str) -> dict[str, MaxMessageCountThreshold]:
            return {
                LEVEL: MaxMessageCountThreshold(
                    max_message_count=1,
                    comparison_operator_override=AT_LEAST,
                    treat_missing_data_override=NOT_BREACHING,
                    alarm_description_override=f"{what} holds failed work: inspect it and redrive "
                    f"({monitored.runbook})",
                )
            }

        def age(what: str, max_age: Duration, description: str) -> dict[str, MaxMessageAgeThreshold]:
            return {
                LEVEL: MaxMessageAgeThreshold(
                    max_age_in_seconds=max_age.to_seconds(),
                    comparison_operator_override=AT_LEAST,
                    treat_missing_data_override=NOT_BREACHING,
                    alarm_description_override=f"{what}: {description}",
                )
            }

        dead_age = "a message has waited a day: redrive or drop it before it expires (14 days)"
        if monitored.dead_letter_queue is None:
            self.facade.monitor_sqs_queue(
                queue=monitored.queue,
                alarm_friendly_name=monitored.name,
                human_readable_name=f"SQS {monitored.name}",
                add_queue_max_size_alarm=depth(monitored.name),
                add_queue_max_message_age_alarm=age(monitored.name, constants.DEAD_LETTER_AGE_ALARM, dead_age),
            )
            return
        self.facade.monitor_sqs_queue_with_dlq(
            queue=monitored.queue,
            dead_letter_queue=monitored.dead_letter_queue,
            alarm_friendly_name=monitored.name,
            human_readable_name=f"SQS {monitored.name} and its dead-letter queue",
            add_queue_max_message_age_alarm=(
                age(monitored.name, monitored.max_age, monitored.late) if monitored.max_age is not None else None
            ),
            add_dead_letter_queue_max_size_alarm=depth(f"{monitored.name}'s dead-letter queue"),
            add_dead_letter_queue_max_message_age_alarm=age(
                f"{monitored.name}'s dead-letter queue", constants.DEAD_LETTER_AGE_ALARM, dead_age
            ),
        )

    def _business_metrics(self, functions: Sequence[MonitoredFunction]) -> None:
        """The functions' own metrics (Powertools EMF): counts per hour, with an alarm on each failure count."""
        folders = {f.folder for f in functions}

        def metric(folder: str, name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=self._tenant.metrics_namespace,
                metric_name=name,
                dimensions_map={"service": self._tenant.service_name(folder)},
                statistic=cloudwatch.Stats.SUM,
                period=constants.FAILURE_ALARM_PERIOD,
                label=name,
            )

        def alarmed(folder: str, name: str, friendly: str, description: str) -> CustomMetricWithAlarm:
            return CustomMetricWithAlarm(
                metric=metric(folder, name),
                alarm_friendly_name=friendly,
                add_alarm={
                    LEVEL: CustomThreshold(
                        threshold=1,
                        comparison_operator=AT_LEAST,
                        treat_missing_data_override=NOT_BREACHING,
                        alarm_description_override=description,
                    )
                },
            )

        sections: list[tuple[str, str, CustomMetricGroup]] = []
        if constants.EXPORT_WORKER_FUNCTION in folders:
            worker = constants.EXPORT_WORKER_FUNCTION
            sections.append(
                (
                    "Export",
                    "Export",
                    CustomMetricGroup(
                        title="Clients sent by the export workers (per hour)",
                        metrics=[
                            alarmed(
                                worker,
                                constants.WORKER_FAILED_METRIC,
                                "ClientsFailed",
                                "A client's export failed for good in the last hour (dead-lettered after its "
                                "retries, or not retried: a refusal that cannot succeed, see its error): "
                                "GET /v1/exports shows which and why (docs/export.md, Runbook)",
                            ),
                            *(
                                metric(worker, name)
                                for name in constants.WORKER_METRICS
                                if name != constants.WORKER_FAILED_METRIC
                            ),
                        ],
                    ),
                )
            )
        if constants.EXPORT_FUNCTION in folders:
            dispatcher = constants.EXPORT_FUNCTION
            sections.append(
                (
                    "Export",
                    "Export",
                    CustomMetricGroup(
                        title="Clients queued by the export dispatcher (per hour)",
                        metrics=[
                            alarmed(
                                dispatcher,
                                constants.DISPATCHER_FAILED_METRIC,
                                "ClientsNotQueued",
                                "The export dispatcher could not queue some clients (recorded failed on their run); "
                                "the next hourly run queues them again: see the dispatcher's log",
                            ),
                            *(
                                metric(dispatcher, name)
                                for name in constants.DISPATCHER_METRICS
                                if name != constants.DISPATCHER_FAILED_METRIC
                            ),
                        ],
                    ),
                )
            )
        if constants.MAILER_FUNCTION in folders:
            mailer = constants.MAILER_FUNCTION
            sections.append(
                (
                    "ErrorFiles",
                    "Error-file emails",
                    CustomMetricGroup(
                        title="Error-file emails (per hour)",
                        metrics=[
                            alarmed(
                                mailer,
                                constants.MAILER_FAILED_METRIC,
                                "NotSent",
                                "SES refused an error-file email in the last hour (the stream retries it; a batch "
                                "that fails every retry goes to the mailer's failure queue): see the mailer's log",
                            ),
                            *(
                                metric(mailer, name)
                                for name in constants.MAILER_METRICS
                                if name != constants.MAILER_FAILED_METRIC
                            ),
                        ],
                    ),
                )
            )
        if constants.API_FUNCTION in folders:
            sections.append(
                (
                    "SavedChanges",
                    "Saved admin changes",
                    CustomMetricGroup(
                        title="Saved changes whose client was not queued (the hourly run sends it)",
                        metrics=[metric(constants.API_FUNCTION, constants.API_NOT_QUEUED_METRIC)],
                    ),
                )
            )
        for friendly in dict.fromkeys(name for name, _, _ in sections):
            self.facade.monitor_custom(
                alarm_friendly_name=friendly,
                human_readable_name=next(title for name, title, _ in sections if name == friendly),
                metric_groups=[group for name, _, group in sections if name == friendly],
            )
