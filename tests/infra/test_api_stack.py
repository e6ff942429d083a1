"""API Gateway: who may call what, and how the gateway guards the function."""

from __future__ import annotations

import json

import pytest

from infra.stack.routes import api_routes

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

SCOPES = ["timerack/timecards.write", "timerack/admin"]


def _method_paths(synthesized, stack: str) -> dict[str, str]:
    """logical id of each AWS::ApiGateway::Method -> "VERB /path" (paths rebuilt from the resources)."""
    resources = synthesized.resources(stack, "AWS::ApiGateway::Resource")

    def path_of(ref: dict) -> str:
        if "Ref" not in ref:  # the RestApi's root resource
            return ""
        resource = resources[ref["Ref"]]["Properties"]
        return f"{path_of(resource['ParentId'])}/{resource['PathPart']}"

    return {
        logical_id: f"{method['Properties']['HttpMethod']} {path_of(method['Properties']['ResourceId'])}"
        for logical_id, method in synthesized.resources(stack, "AWS::ApiGateway::Method").items()
    }


def test_every_method_but_health_needs_a_cognito_token_with_a_timerack_scope(synthesized):
    for stack in synthesized.templates:
        # Given the synthesized methods of the tenant's REST API
        methods = synthesized.resources(stack, "AWS::ApiGateway::Method")
        paths = _method_paths(synthesized, stack)
        authorizers = synthesized.resources(stack, "AWS::ApiGateway::Authorizer")
        assert len(authorizers) == 1
        ((authorizer_id, authorizer),) = authorizers.items()
        assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"

        # Then only GET /v1/health is open, and every other method uses the Cognito authorizer
        open_methods = {paths[m] for m, r in methods.items() if r["Properties"]["AuthorizationType"] == "NONE"}
        assert open_methods == {"GET /v1/health"} == {r.name for r in api_routes() if r.public}, stack
        for logical_id, method in methods.items():
            if paths[logical_id] == "GET /v1/health":
                continue
            properties = method["Properties"]
            assert properties["AuthorizationType"] == "COGNITO_USER_POOLS", paths[logical_id]
            assert properties["AuthorizerId"] == {"Ref": authorizer_id}, paths[logical_id]
            assert sorted(properties["AuthorizationScopes"]) == sorted(SCOPES), paths[logical_id]


def test_the_routes_of_the_http_contract_are_all_there(synthesized):
    # The one list of routes is the committed OpenAPI document (checked against what the API serves
    # by test_openapi_document.py); the stack must build exactly its operations.
    expected = {route.name for route in api_routes()}
    assert {"GET /v1/health", "POST /v1/timecard-batches", "PUT /v1/hierarchy/{nodeId}"} <= expected
    for stack in synthesized.templates:
        assert set(_method_paths(synthesized, stack).values()) == expected, stack


def test_requests_are_validated_and_malformed_ones_answer_422(synthesized):
    for stack, template in synthesized.assertions.items():
        template.has_resource_properties(
            "AWS::ApiGateway::RequestValidator",
            {"ValidateRequestBody": True, "ValidateRequestParameters": True},
        )
        for response_type in ("BAD_REQUEST_BODY", "BAD_REQUEST_PARAMETERS"):
            template.has_resource_properties(
                "AWS::ApiGateway::GatewayResponse", {"ResponseType": response_type, "StatusCode": "422"}
            )
        methods = synthesized.resources(stack, "AWS::ApiGateway::Method")
        assert all("RequestValidatorId" in m["Properties"] for m in methods.values())
        paths = _method_paths(synthesized, stack)
        batch = next(m for i, m in methods.items() if paths[i] == "POST /v1/timecard-batches")
        assert "application/json" in batch["Properties"]["RequestModels"]
        timecards = next(m for i, m in methods.items() if paths[i] == "GET /v1/timecards")
        assert timecards["Properties"]["RequestParameters"] == {
            "method.request.querystring.assignmentId": True,
            "method.request.querystring.weekendBill": True,
        }
        # clientKey is optional for an admin (every client's batches), so API Gateway requires none here
        history = next(m for i, m in methods.items() if paths[i] == "GET /v1/payroll-history")
        assert not history["Properties"].get("RequestParameters")


def test_the_stage_logs_throttles_and_traces(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (stage,) = synthesized.resources(stack, "AWS::ApiGateway::Stage").values()
        properties = stage["Properties"]
        assert properties["TracingEnabled"] is True
        access_log = json.loads(properties["AccessLogSetting"]["Format"])
        assert access_log["requestId"] == "$context.requestId"
        (settings,) = properties["MethodSettings"]
        assert settings["ThrottlingRateLimit"] == tenant.api_rate_limit
        assert settings["ThrottlingBurstLimit"] == tenant.api_burst_limit
        assert settings["LoggingLevel"] == "ERROR"
        assert settings["DataTraceEnabled"] is False


def test_a_waf_web_acl_guards_the_stage(synthesized):
    for stack, template in synthesized.assertions.items():
        template.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
        (acl,) = synthesized.resources(stack, "AWS::WAFv2::WebACL").values()
        common = next(r for r in acl["Properties"]["Rules"] if r["Name"] == "AWSManagedRulesCommonRuleSet")
        overrides = common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
        # Timecard batches are larger than the managed rule set's 8 KB body limit.
        assert {o["Name"] for o in overrides} >= {"SizeRestrictions_BODY"}


def test_timerack_gets_a_client_credentials_app_client_with_the_timecards_scope(synthesized):
    for stack, template in synthesized.assertions.items():
        template.has_resource_properties(
            "AWS::Cognito::UserPoolResourceServer",
            {"Identifier": "timerack", "Scopes": [{"ScopeName": "timecards.write"}, {"ScopeName": "admin"}]},
        )
        # The portal's code-grant client is tested in test_user_sign_in.py; here the two machine clients
        clients = {
            logical_id: client
            for logical_id, client in synthesized.resources(stack, "AWS::Cognito::UserPoolClient").items()
            if "PortalClient" not in logical_id
        }
        assert len(clients) == 2
        for client in clients.values():
            assert client["Properties"]["AllowedOAuthFlows"] == ["client_credentials"]
            assert client["Properties"]["GenerateSecret"] is True
        template.has_resource_properties(
            "AWS::Cognito::UserPool", {"AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True}}
        )


def test_the_rest_api_is_named_after_the_tenant(synthesized):
    for tenant in synthesized.tenants:
        (api,) = synthesized.resources(f"TimerackBridge-{tenant.name}", "AWS::ApiGateway::RestApi").values()
        assert api["Properties"]["Name"] == f"TimerackBridge-{tenant.name}"


def test_the_stage_logs_into_log_groups_with_the_tenants_retention_and_key(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (key_id,) = synthesized.resources(stack, "AWS::KMS::Key")
        (api_id,) = synthesized.resources(stack, "AWS::ApiGateway::RestApi")
        ((stage_id, stage),) = synthesized.resources(stack, "AWS::ApiGateway::Stage").items()
        groups = synthesized.resources(stack, "AWS::Logs::LogGroup")
        (access_ref,) = [
            part for part in stage["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::Join"][1] if "Ref" in part
        ]
        access = groups[access_ref["Ref"]]
        # The execution log group is API Gateway's name for it, made by the stack before the stage logs into it
        (execution_id,) = [
            i
            for i, g in groups.items()
            if g["Properties"].get("LogGroupName")
            == {"Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/prod"]]}
        ]
        assert execution_id in stage["DependsOn"], stage_id
        for group in (access, groups[execution_id]):
            assert group["Properties"]["RetentionInDays"] == tenant.log_retention_days
            assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
            assert group["DeletionPolicy"] == "Retain"


def test_the_account_wide_api_gateway_logging_role_is_set_once_per_account_and_region(synthesized):
    # A tenant stack setting AWS::ApiGateway::Account would overwrite the role another stack set
    for stack in synthesized.templates:
        assert not synthesized.resources(stack, "AWS::ApiGateway::Account"), stack
        assert not [
            r
            for r in synthesized.resources(stack, "AWS::IAM::Role").values()
            if "apigateway.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])
        ], stack
    for name, template in synthesized.regional_templates.items():
        resources = template["Resources"]
        (account,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Account"]
        role = resources[account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "apigateway.amazonaws.com"
        }
        # Deleting the regional stack never takes another application's API Gateway logging with it
        assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain", name
