"""API Gateway (REST) in front of the API function: the routes of the contract (docs/contract.md), each behind
the Cognito authorizer except GET /v1/health, with request validation, JSON access logs, execution logs (both
log groups with the tenant's retention and key), stage throttling, X-Ray and a WAF web ACL.

The REST API is named `TimerackBridge-<tenant>`, so its metrics (dimension ApiName) and alarms are the
tenant's alone. The account's API Gateway CloudWatch role is not set here: the regional stack sets it once
per account and region (infra/stack/regional.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.encryption import TenantKey
from infra.stack.export import ExportJob
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers, log_group
from infra.stack.identity import Identity
from infra.stack.intake import IntakeJob
from infra.stack.nag import acknowledge
from infra.stack.routes import Route, api_routes

API_SPEC = FunctionSpec(
    folder=constants.API_FUNCTION,
    handler=constants.API_HANDLER,
    memory_mb=constants.API_MEMORY_MB,
    timeout=constants.API_TIMEOUT,
    description="The Timerack Bridge HTTP API (admin data, timecard batches, Payroll History)",
)

# Body models the gateway checks before the function runs. Deliberately shallow: a bad value
# inside one assignment is that assignment's error (docs/contract.md), never a rejected batch.
JSON_OBJECT = "JsonObject"
TIMECARD_BATCH = "TimecardBatch"
BODY_MODELS = {
    JSON_OBJECT: apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
    TIMECARD_BATCH: apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        type=apigw.JsonSchemaType.OBJECT,
        required=["clientKey"],
        properties={
            "clientKey": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1),
            "payPeriod": apigw.JsonSchema(type=apigw.JsonSchemaType.OBJECT),
            "timecards": apigw.JsonSchema(type=apigw.JsonSchemaType.ARRAY),
        },
    ),
}


# The routes come from the committed OpenAPI document (infra/stack/routes.py). What the gateway
# checks beyond "a JSON object when the operation requires a body", and the query it leaves to the function:
BODY_MODEL_OF = {"POST /v1/timecard-batches": TIMECARD_BATCH}
# The function's own 422 names the field, as for every other admin route; the gateway never checked it.
QUERY_CHECKED_BY_THE_FUNCTION = {"GET /v1/employees": ("hasPinOverride",)}


@dataclass(frozen=True)
class GatewayRoute:
    """One method of the REST API: its route and what the gateway checks before the function runs."""

    route: Route
    body: str | None  # a key of BODY_MODELS
    required_query: tuple[str, ...]


def gateway_routes(routes: tuple[Route, ...]) -> tuple[GatewayRoute, ...]:
    """The routes with their gateway checks; a name above that is not a route fails the synth."""
    names = {route.name for route in routes} | {f"{r.name}?{q}" for r in routes for q in r.required_query}
    left = {f"{name}?{q}" for name, queries in QUERY_CHECKED_BY_THE_FUNCTION.items() for q in queries}
    unknown = (set(BODY_MODEL_OF) | left) - names
    if unknown:
        raise ValueError(f"not a route of docs/openapi.json: {sorted(unknown)} (run `make openapi`?)")
    return tuple(
        GatewayRoute(
            route=route,
            body=BODY_MODEL_OF.get(route.name, JSON_OBJECT) if route.body_required else None,
            required_query=tuple(
                q for q in route.required_query if q not in QUERY_CHECKED_BY_THE_FUNCTION.get(route.name, ())
            ),
        )
        for route in routes
    )


# One JSON line per request; the caller's Cognito client id, never a token or a body.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "clientId": "$context.authorizer.claims.client_id",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
    "xrayTraceId": "$context.xrayTraceId",
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        identity: Identity,
        database: Database,
        layers: Layers,
        export: ExportJob,
        intake: IntakeJob,
        key: TenantKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = BridgeFunction(
            self,
            "Handler",
            tenant=tenant,
            spec=API_SPEC,
            layers=layers,
            key=key,
            environment={
                constants.ENV_TABLE_NAME: database.main_table.table_name,
                constants.ENV_IDEMPOTENCY_TABLE_NAME: database.idempotency_table.table_name,
                constants.ENV_PAY_CODES: ",".join(tenant.pay_codes),
                constants.ENV_WEEK_ENDING_DAY: tenant.week_ending_day,
                # POST /v1/exports and saved admin changes queue clients; the API never sends one itself.
                **export.queue_environment,
                constants.ENV_EXPORT_CHANGE_DELAY_SECONDS: str(constants.EXPORT_CHANGE_DELAY_SECONDS),
                # POST /v1/exports of many clients hands the run to the dispatcher (an async invoke).
                constants.ENV_EXPORT_DISPATCHER_FUNCTION: export.function.function.function_name,
                # A batch over SYNC_BATCH_TIMECARDS is stored and queued for the intake worker.
                **intake.environment,
                **(
                    {constants.ENV_SYNC_BATCH_TIMECARDS: str(tenant.sync_batch_timecards)}
                    if tenant.sync_batch_timecards is not None
                    else {}
                ),
            },
        )
        database.grant(self.function, constants.API_TABLE_ACTIONS, constants.API_INDEX_ACTIONS)
        self.function.allow(constants.IDEMPOTENCY_TABLE_ACTIONS, [database.idempotency_table.table_arn])
        export.grant_send(self.function)
        export.grant_dispatch(self.function)
        intake.grant_accept(self.function)
        handler = self.function.function
        self.access_logs = log_group(self, "AccessLogs", tenant=tenant, key=key)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=tenant.resource_prefix,
            description=f"Timerack Bridge API ({tenant.name})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logs need the account's API Gateway CloudWatch role: one per account and region, set by
            # the regional stack this stack depends on, never by a tenant (it would overwrite another's).
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=constants.API_STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=tenant.api_rate_limit,
                throttling_burst_limit=tenant.api_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT)),
            ),
        )
        # The stack publishes the URL as ApiUrl; drop the construct's own duplicate output.
        self.rest_api.node.try_remove_child("Endpoint")
        self.execution_logs = self._execution_log_group(tenant, key)
        self._gateway_responses()

        self.authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[identity.user_pool])
        self.validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self.integration = apigw.AwsIntegration(
            service="lambda",
            proxy=True,
            path=f"2015-03-31/functions/{handler.function_arn}/invocations",
        )
        # One permission for the deployed stage, instead of one per method.
        handler.add_permission(
            "InvokeFromApi",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            source_arn=self.rest_api.arn_for_execute_api(stage=constants.API_STAGE_NAME),
        )
        self._models: dict[str, apigw.Model] = {}
        self.methods = [self._add_route(route, identity) for route in gateway_routes(api_routes())]
        self._web_acl(tenant)

    def _execution_log_group(self, tenant: TenantConfig, key: TenantKey) -> logs.LogGroup:
        """The stage's execution log group, made before the stage (API Gateway would otherwise create it on the
        first request, kept forever, unencrypted), with the tenant's retention and key. Its name is API
        Gateway's: `API-Gateway-Execution-Logs_<rest api id>/<stage>`."""
        group = log_group(
            self,
            "ExecutionLogs",
            tenant=tenant,
            key=key,
            name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{constants.API_STAGE_NAME}",
        )
        self.rest_api.deployment_stage.node.add_dependency(group)
        return group

    def _add_route(self, gateway: GatewayRoute, identity: Identity) -> apigw.Method:
        route = gateway.route
        resource = self.rest_api.root.resource_for_path(route.path)
        options: dict = {
            "request_validator": self.validator,
            "request_parameters": {f"method.request.querystring.{name}": True for name in gateway.required_query},
        }
        if gateway.body is not None:
            options["request_models"] = {"application/json": self._model(gateway.body)}
        if route.public:
            method = resource.add_method(
                route.method, self.integration, authorization_type=apigw.AuthorizationType.NONE, **options
            )
            public = "GET /v1/health is the unauthenticated liveness probe (docs/contract.md)."
            acknowledge(method, "AwsSolutions-APIG4", public)
            acknowledge(method, "AwsSolutions-COG4", public)
            return method
        return resource.add_method(
            route.method,
            self.integration,
            authorization_type=apigw.AuthorizationType.COGNITO,
            authorizer=self.authorizer,
            authorization_scopes=identity.scopes,
            **options,
        )

    def _model(self, name: str) -> apigw.Model:
        if name not in self._models:
            self._models[name] = self.rest_api.add_model(
                f"{name}Model", content_type="application/json", model_name=name, schema=BODY_MODELS[name]
            )
        return self._models[name]

    def _gateway_responses(self) -> None:
        """Gateway-made errors in the API's own shape: {"message": ...}, malformed requests 422.
        (messageString is already a quoted JSON string; validationErrorString is not, so it stays out.)"""
        invalid = {"application/json": '{"message": $context.error.messageString}'}
        for response_type in (apigw.ResponseType.BAD_REQUEST_BODY, apigw.ResponseType.BAD_REQUEST_PARAMETERS):
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code="422",
                templates=invalid,
            )
        # An unknown route or method is "not found", not API Gateway's "Missing Authentication Token".
        self.rest_api.add_gateway_response(
            "NotFoundResponse",
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            templates={"application/json": '{"message": "Not found"}'},
        )

    def _web_acl(self, tenant: TenantConfig) -> None:
        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        def managed(priority: int, name: str, count_only: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in count_only
                        ]
                        or None,
                    )
                ),
                visibility_config=visibility(name),
            )

        prefix = tenant.resource_prefix
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(prefix),
            rules=[
                # Timecard batches are far over the rule set's 8 KB body limit, and Timerack's
                # server-to-server client need not send a User-Agent.
                managed(0, "AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY", "NoUserAgent_HEADER")),
                managed(1, "AWSManagedRulesKnownBadInputsRuleSet"),
                wafv2.CfnWebACL.RuleProperty(
                    name="RateLimitPerIp",
                    priority=2,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=constants.WAF_RATE_LIMIT_PER_5_MIN, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=visibility(f"{prefix}-RateLimitPerIp"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )

    @property
    def url(self) -> str:
        return self.rest_api.url
