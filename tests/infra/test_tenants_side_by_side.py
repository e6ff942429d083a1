"""Two tenants in one account and region (tests/infra/conftest.py SIDE_BY_SIDE, one sender address for both)
never collide: no physical name, no alarm's metric and dimensions, no metric namespace or service, and no
regional singleton (API Gateway's CloudWatch role, an SES identity) is created twice."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.cdk_templates import SIDE_BY_SIDE, alarm_metric

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

TENANT_STACKS = ("TimerackBridge-north", "TimerackBridge-south")
REGIONAL_STACK = "TimerackBridgeRegional-444444444444-eu-west-1"
# Names that live inside another resource of the same stack (an API's models, a pool's clients, a role's inline
# policy): not names in the account.
SCOPED = {
    "AWS::IAM::Policy",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Authorizer",
    "AWS::ApiGateway::RequestValidator",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolResourceServer",
}
PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix"}


def _resources(template: dict[str, Any], resource_type: str | None = None) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in template["Resources"].items() if resource_type in (None, r["Type"])}


def _own_reference(value: Any, template: dict[str, Any]) -> bool:
    """Whether a value refers to one of the template's own resources (then it differs in every stack)."""
    text = json.dumps(value)
    refs = [part.split('"')[0] for marker in ('{"Ref": "', '{"Fn::GetAtt": ["') for part in text.split(marker)[1:]]
    return any(ref in template["Resources"] for ref in refs if ref not in PSEUDO)


def _physical_names(template: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(resource type, property, name) of every name the template sets itself and that does not come from a
    resource of its own (pseudo parameters stand in for the shared account and region)."""
    names = set()
    for resource in template["Resources"].values():
        if resource["Type"] in SCOPED:
            continue
        for prop, value in resource.get("Properties", {}).items():
            if not (prop.endswith("Name") or prop in ("Domain", "EmailIdentity")):
                continue
            if prop == "MetricName":  # an alarm's metric: compared below with its dimensions
                continue
            if _own_reference(value, template):
                continue
            names.add((resource["Type"], prop, json.dumps(value, sort_keys=True)))
    return names


def _alarm_metrics(template: dict[str, Any]) -> set[str]:
    """The metric and dimensions of every alarm whose dimensions are all literal (not one of its resources)."""
    watched = set()
    for alarm in _resources(template, "AWS::CloudWatch::Alarm").values():
        metric = alarm_metric(alarm["Properties"])
        if not _own_reference(metric.dimensions, template):
            watched.add(json.dumps([metric.namespace, metric.name, metric.dimensions], sort_keys=True))
    return watched


def _function_variables(template: dict[str, Any], name: str) -> set[str]:
    return {
        f["Properties"]["Environment"]["Variables"][name]
        for f in _resources(template, "AWS::Lambda::Function").values()
    }


def test_the_two_tenants_and_one_regional_stack_synthesize_clean(side_by_side):
    # cdk-nag ran in the synth; a finding would have raised
    assert set(side_by_side) == {*TENANT_STACKS, REGIONAL_STACK}
    assert {t["account"] for t in SIDE_BY_SIDE} == {"444444444444"}


def test_no_physical_name_is_set_by_both_tenants(side_by_side):
    north, south = (_physical_names(side_by_side[stack]) for stack in TENANT_STACKS)
    # The names each tenant sets: its API, alarms, dashboard, key alias, schedule, Cognito domain
    for names in (north, south):
        types = {resource_type for resource_type, _, _ in names}
        assert {
            "AWS::ApiGateway::RestApi",
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
            "AWS::KMS::Alias",
            "AWS::Events::Rule",
            "AWS::Cognito::UserPoolDomain",
        } <= types
    assert north & south == set()


def test_no_alarm_watches_a_metric_of_the_other_tenant(side_by_side):
    north, south = (_alarm_metrics(side_by_side[stack]) for stack in TENANT_STACKS)
    # API 5xx (ApiName, Stage) and the functions' own metrics (namespace, service) are literal dimensions
    for watched in (north, south):
        assert any('"AWS/ApiGateway"' in w and '"Stage"' in w for w in watched)
        assert any('"failed"' in w for w in watched)
    assert north & south == set()


def test_each_tenant_publishes_its_metrics_in_its_own_namespace_and_services(side_by_side):
    north, south = (side_by_side[stack] for stack in TENANT_STACKS)
    assert _function_variables(north, "POWERTOOLS_METRICS_NAMESPACE") == {"TimerackBridge/north"}
    assert _function_variables(south, "POWERTOOLS_METRICS_NAMESPACE") == {"TimerackBridge/south"}
    services = [_function_variables(t, "POWERTOOLS_SERVICE_NAME") for t in (north, south)]
    assert len(services[0]) == len(services[1]) == 5
    assert services[0] & services[1] == set()


def test_the_regional_singletons_are_created_once_by_the_regional_stack(side_by_side):
    for stack in TENANT_STACKS:
        assert not _resources(side_by_side[stack], "AWS::ApiGateway::Account"), stack
        assert not _resources(side_by_side[stack], "AWS::SES::EmailIdentity"), stack
    regional = side_by_side[REGIONAL_STACK]
    assert len(_resources(regional, "AWS::ApiGateway::Account")) == 1
    (identity,) = _resources(regional, "AWS::SES::EmailIdentity").values()
    assert identity["Properties"]["EmailIdentity"] == "payroll@shared-staffing.example.com"
    assert identity["DeletionPolicy"] == "Retain"


def test_both_tenants_may_send_as_the_shared_identity(side_by_side):
    arn = "arn:aws:ses:eu-west-1:444444444444:identity/payroll@shared-staffing.example.com"
    for stack in TENANT_STACKS:
        statements = [
            statement
            for policy in _resources(side_by_side[stack], "AWS::IAM::Policy").values()
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "ses:SendEmail" in statement["Action"]
        ]
        assert [s["Resource"] for s in statements] == [arn], stack
