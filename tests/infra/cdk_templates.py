"""Reading synthesized CloudFormation templates in the infra tests (tests/infra/conftest.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AlarmMetric:
    """What an alarm watches, whether the template writes it flat or as its one returned metric (`Metrics`)."""

    namespace: str
    name: str
    dimensions: dict[str, Any]
    statistic: str
    period: int


def alarm_metric(alarm: dict[str, Any]) -> AlarmMetric:
    """The metric of an alarm's properties."""
    if "MetricName" in alarm:
        return AlarmMetric(
            alarm["Namespace"],
            alarm["MetricName"],
            {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
            alarm["Statistic"],
            alarm["Period"],
        )
    (returned,) = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    stat = returned["MetricStat"]
    return AlarmMetric(
        stat["Metric"]["Namespace"],
        stat["Metric"]["MetricName"],
        {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])},
        stat["Stat"],
        stat["Period"],
    )


def function_folder(role: dict[str, Any]) -> str:
    """The functions/ folder of a function's role ("Timerack Bridge <folder> function (<tenant>)")."""
    return str(role["Properties"]["Description"]).removeprefix("Timerack Bridge ").split(" function ")[0]


def resources_of(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


# Two tenants in one account and region, sending as one address: one exports to Timerack, the other drops
# files into S3 for a Timerack account (an account id as its timerackPrincipal).
SIDE_BY_SIDE = [
    {
        "name": "north",
        "account": "444444444444",
        "region": "eu-west-1",
        "senderEmail": "payroll@shared-staffing.example.com",
        "exportDestination": "https",
        "timerackApiUrl": "https://api.timerack.example.com",
        "syncBatchTimecards": 4000,
    },
    {
        "name": "south",
        "account": "444444444444",
        "region": "eu-west-1",
        "senderEmail": "payroll@shared-staffing.example.com",
        "exportDestination": "s3",
        "timerackPrincipal": "555555555555",
        "logRetentionDays": 90,
    },
]
