"""infra/tenants.json: tenants declared in one place, validated before any stack is built."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

VALID = {
    "name": "acme",
    "account": "111111111111",
    "region": "us-east-1",
    "senderEmail": "payroll@acme.example.com",
    "exportDestination": "https",
    "timerackApiUrl": "https://api.timerack.example.com",
}


def _write(tmp_path, tenants):
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": tenants}), encoding="utf-8")
    return path


def test_the_checked_in_tenants_load():
    from infra.stack import load_tenants

    tenants = load_tenants()
    assert tenants and all(t.schedule == "rate(1 hour)" for t in tenants)


def test_defaults_fill_what_a_tenant_leaves_out(tmp_path):
    from infra.stack import load_tenants

    (tenant,) = load_tenants(_write(tmp_path, [VALID]))
    assert tenant.pay_codes == ("REG", "OT", "DT")
    assert tenant.schedule == "rate(1 hour)"
    assert tenant.domain_prefix == "timerack-acme-111111111111"
    assert tenant.week_ending_day == "Sunday"
    assert tenant.export_concurrency == 5


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"exportDestination": "ftp"}, "exportDestination"),
        ({"account": "12345"}, "account"),
        ({"timerackApiUrl": "http://insecure.example.com"}, "timerackApiUrl"),
        ({"name": "Acme Staffing"}, "name"),
        ({"payCodes": ["REG", "REG"]}, "unique"),
        ({"logRetentionDays": 42}, "log retention"),
        ({"weekEndingDay": "Funday"}, "weekEndingDay"),
        ({"unknownField": 1}, "unknownField"),
        ({"exportConcurrency": 1}, "exportConcurrency"),
        ({"exportConcurrency": 1001}, "exportConcurrency"),
        ({"syncBatchTimecards": 10_001}, "syncBatchTimecards"),  # past what the API answers within its 28 s
        ({"syncBatchTimecards": 0}, "syncBatchTimecards"),
        ({"timerackApiUrl": None}, "needs timerackApiUrl"),
        ({"exportDestination": "s3"}, "timerackApiUrl is for exportDestination https only"),
        ({"timerackPrincipal": "111111111111"}, "timerackPrincipal reads the export bucket"),
        ({"exportDestination": "s3", "timerackApiUrl": None, "timerackPrincipal": "1234"}, "timerackPrincipal"),
        (
            {"exportDestination": "s3", "timerackApiUrl": None, "timerackPrincipal": "arn:aws:iam::1:role/x"},
            "timerackPrincipal",
        ),
        (
            {
                "exportDestination": "s3",
                "timerackApiUrl": None,
                "timerackPrincipal": "arn:aws:iam::333333333333:user/someone",
            },
            "timerackPrincipal",
        ),
    ],
)
def test_an_invalid_tenant_is_refused_with_the_reason(tmp_path, change, complaint):
    from infra.stack import TenantConfigError, load_tenants

    with pytest.raises(TenantConfigError, match=complaint):
        load_tenants(_write(tmp_path, [VALID | change]))


def test_two_tenants_may_not_share_a_name(tmp_path):
    from infra.stack import TenantConfigError, load_tenants

    with pytest.raises(TenantConfigError, match="unique"):
        load_tenants(_write(tmp_path, [VALID, VALID | {"account": "222222222222"}]))


def test_a_tenant_may_set_its_week_ending_day(tmp_path):
    from infra.stack import load_tenants

    (tenant,) = load_tenants(_write(tmp_path, [VALID | {"weekEndingDay": "Saturday"}]))
    assert tenant.week_ending_day == "Saturday"


def test_a_tenant_may_set_how_many_clients_are_sent_at_once(tmp_path):
    from infra.stack import load_tenants

    (tenant,) = load_tenants(_write(tmp_path, [VALID | {"exportConcurrency": 16}]))
    assert tenant.export_concurrency == 16


@pytest.mark.parametrize(
    "principal",
    [
        "333333333333",
        "arn:aws:iam::333333333333:role/timerack-export-reader",
        "arn:aws:iam::333333333333:role/path/reader",
    ],
)
def test_an_s3_tenant_may_name_who_at_timerack_reads_its_bucket(tmp_path, principal):
    from infra.stack import load_tenants

    s3 = VALID | {"exportDestination": "s3", "timerackPrincipal": principal}
    del s3["timerackApiUrl"]
    (tenant,) = load_tenants(_write(tmp_path, [s3]))
    assert tenant.timerack_principal == principal
    assert tenant.timerack_api_url is None


def test_names_and_metrics_carry_the_tenant(tmp_path):
    from infra.stack import load_tenants

    (tenant,) = load_tenants(_write(tmp_path, [VALID]))
    assert tenant.resource_prefix == "TimerackBridge-acme"
    assert tenant.metrics_namespace == "TimerackBridge/acme"
    assert tenant.service_name("export_worker") == "timerack-acme-export_worker"
