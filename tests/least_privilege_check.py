"""The end-of-session check of tests/least_privilege.py: the recorded calls against each tenant's roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.least_privilege import Call, load_calls, missing_grants, role_grants, unused_grants

# A tenant's stack has no resource of these kinds when its destination does not need them (an S3 tenant has no
# Timerack secret to read, an HTTPS tenant no bucket): calls on them come from the other tenants' code paths.
_OPTIONAL_KINDS = ("secret", "bucket")


# The functions of a tenant stack, by folder; each role's description names its folder.
FUNCTIONS = ("api", "export", "export_worker", "intake_worker", "mailer")


def _is_tenant(template: dict[str, Any]) -> bool:
    """A tenant's stack (the regional stack has no function)."""
    return any(body["Type"] == "AWS::Lambda::Function" for body in template.get("Resources", {}).values())


def _kinds_in(template: dict[str, Any]) -> set[str]:
    """The optional kinds the template has: the Timerack secret, the export bucket (every tenant has the intake
    bucket, whose objects are kinds of their own)."""
    resources = template.get("Resources", {})
    types = {body["Type"] for body in resources.values()}
    kinds = {"secret"} if "AWS::SecretsManager::Secret" in types else set()
    if any(body["Type"] == "AWS::S3::Bucket" and i.startswith("Export") for i, body in resources.items()):
        kinds.add("bucket")
    return kinds


def _calls_for(calls: set[Call], template: dict[str, Any]) -> set[Call]:
    present = _kinds_in(template)
    return {c for c in calls if c.resource not in _OPTIONAL_KINDS or c.resource in present}


def check_session(shared: Path, config: Any) -> bool:
    """False (and a report) when a recorded call lacks its grant in some tenant's stack."""
    complete = shared / "infra-synth-complete.json"
    calls = load_calls(shared / "aws-calls")
    if not complete.exists() or not calls:
        return True
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter is not None else print
    ok = True
    for function in sorted(set(FUNCTIONS) - {call.function for call in calls}):
        write(f"least privilege: no call of the {function} function's code was recorded: its role was not checked")
    for stack, file in sorted(json.loads(complete.read_text(encoding="utf-8")).items()):
        template = json.loads(Path(file).read_text(encoding="utf-8"))
        grants = role_grants(template)
        if not _is_tenant(template):
            continue
        if set(grants) != set(FUNCTIONS):
            # A role the check cannot find (its description changed) would otherwise be skipped in silence.
            ok = False
            write(f"LEAST PRIVILEGE: {stack}: found the roles of {sorted(grants)}, not of every function {FUNCTIONS}")
        stack_calls = _calls_for(calls, template)
        for call in missing_grants(stack_calls, grants):
            ok = False
            write(
                f"LEAST PRIVILEGE: {stack}: the {call.function} function calls {call.action} on a "
                f"{call.resource} and its role does not allow it"
            )
        for function, grant in unused_grants(stack_calls, grants):
            write(
                f"least privilege: {stack}: the {function} function's role allows {grant.action} on a "
                f"{grant.resource}, and no code of it called that in this session"
            )
    return ok
