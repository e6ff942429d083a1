"""Cold start: each Lambda handler module imported in a fresh process, against the floor.

The floor is `import boto3, pydantic; from aws_lambda_powertools import Logger`: what any Python
function on this stack imports before doing anything of its own. Each child process sees what a
Lambda execution environment sees: only the runtime dependencies on sys.path (a directory of links
to the installed boto3, Powertools, pydantic and their requirements, like the dependency layer), the
shared layer and the function's folder, no dev packages (their metadata alone would slow pydantic's
plugin discovery), and the Lambda environment variables, tracing on as the stack deploys it.

Figures: import time in the child (interpreter start-up excluded) and its CPU time, medians of
interleaved rounds. Then, informational, the first invocation after the import against moto's
server in its own process: the part of a cold start a lazy import moves to the first request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, median, moto_server, repeats

SECTION = "cold start"
ROOT = Path(__file__).resolve().parent.parent
SHARED_LAYER = ROOT / "layers" / "shared" / "python"
FLOOR = "import boto3, pydantic; from aws_lambda_powertools import Logger"
HANDLERS = {
    "api": "functions.api.handler",
    "export": "functions.export.handler",
    "export_worker": "functions.export_worker.handler",
    "mailer": "functions.mailer.handler",
    "intake_worker": "functions.intake_worker.handler",
}
TARGET = 1.1  # issue 18: every handler at most 1.1x the floor, without bytecode for the project's code
API_TARGET = 0.5  # issue 18: the API handler at most 0.5x (its routes and models load on the first request)
# The sample stream event: a completed batch with errors, sent while its client took the error file
# (the setting is kept on the batch), so the first invoke builds and sends one email through SES.
MAILER_EVENT = ROOT / "events" / "mailer-stream.json"
# The export queue's lanes as the stack names them in the functions' environment (the import-only figures
# never reach them; the first invokes get the moto server's queues instead).
QUEUE_PREFIX = "bench-export"
PLACEHOLDER_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-export-"


def runtime_site(directory: Path) -> Path:
    """A site directory holding links to the runtime dependencies only (the dependency layer's content)."""
    import importlib.metadata as metadata

    from packaging.requirements import Requirement

    site = directory / "site"
    site.mkdir()
    seen: set[str] = set()
    pending = [Requirement(r) for r in metadata.distribution("timerack-bridge").requires or []]
    pending = [r for r in pending if r.marker is None or r.marker.evaluate({"extra": ""})]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        distribution = metadata.distribution(requirement.name)
        for entry in distribution.files or []:
            top = entry.parts[0]
            if top.endswith(".pth") or top == ".." or top.startswith("__"):
                continue
            source = Path(str(distribution.locate_file(top)))
            target = site / top
            if source.exists() and not target.exists():
                target.symlink_to(source)
        for text in distribution.requires or []:
            nested = Requirement(text)
            extras = [{"extra": e} for e in requirement.extras] or [{"extra": ""}]
            if nested.marker is None or any(nested.marker.evaluate(env) for env in extras):
                pending.append(nested)
    return site


def without_bytecode(source: Path, target: Path) -> Path:
    """A tree of links to the source files only: what a layer built with `pip install --no-compile` holds."""
    shutil.copytree(source, target, copy_function=os.symlink, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def lambda_environment(scratch: Path, function: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a Lambda execution environment and this stack give a function."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {
        **keep,
        "LAMBDA_TASK_ROOT": str(scratch),
        "AWS_LAMBDA_FUNCTION_NAME": f"timerack-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": f"timerack-{function}",
        "POWERTOOLS_METRICS_NAMESPACE": "TimerackBridge",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as the stack sets it (infra/stack/functions.py)
        "TABLE_NAME": "bench-main",
        "IDEMPOTENCY_TABLE_NAME": "bench-idem",
        "SENDER_EMAIL": "timerack-bridge@agency.example",
        "EXPORT_DESTINATION": "outbox",
        "EXPORT_OUTBOX_DIR": str(scratch / "outbox"),
        "EXPORT_QUEUE_URL": PLACEHOLDER_QUEUE + "bulk",
        "EXPORT_PRIORITY_QUEUE_URL": PLACEHOLDER_QUEUE + "priority",
        "INTAKE_BUCKET": "bench-intake",
        "INTAKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-intake",
        "PYTHONDONTWRITEBYTECODE": "1",
        **(extra or {}),
    }


_CHILD = """
import sys, time, json
sys.path[:0] = {paths!r}
started, cpu = time.perf_counter(), time.process_time()
{statement}
imported, imported_cpu = time.perf_counter(), time.process_time()
result = {{"import_ms": (imported - started) * 1000, "import_cpu_ms": (imported_cpu - cpu) * 1000}}
{invoke}
print("BENCH" + json.dumps(result))
"""


def child(statement: str, env: dict[str, str], paths: list[str], invoke: str = "") -> dict[str, float]:
    code = _CHILD.format(paths=paths, statement=statement, invoke=invoke)
    # -S: no site-packages of the dev venv (only the runtime site above), as in a Lambda environment.
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    match = re.search(r"^BENCH(.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"cold-start child failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(match.group(1))


_INVOKE = {
    "floor": """
started, cpu = time.perf_counter(), time.process_time()
import boto3
key = {{"pk": {{"S": "CUSTOMER#10000"}}, "sk": {{"S": "CUSTOMER"}}}}
boto3.client("dynamodb").get_item(TableName="bench-main", Key=key)
result["invoke_ms"] = (time.perf_counter() - started) * 1000
result["invoke_cpu_ms"] = (time.process_time() - cpu) * 1000
""",
    "api": """
from local.proxy import build_proxy_event
event = build_proxy_event("POST", "/v1/timecard-batches", headers={{"Content-Type": "application/json"}},
    body={body!r}, claims={{"sub": "bench-portal", "scope": "timerack/timecards.write"}})
class Context:
    function_name = "timerack-api"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:timerack-api"
    def get_remaining_time_in_millis(self): return 25000
started, cpu = time.perf_counter(), time.process_time()
response = {module}.lambda_handler(event, Context())
assert response["statusCode"] == 200, response
result["invoke_ms"] = (time.perf_counter() - started) * 1000
result["invoke_cpu_ms"] = (time.process_time() - cpu) * 1000
""",
    "export": """
event = {{"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
    "account": "123456789012", "time": "2026-11-20T10:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/timerack-export"], "detail": {{}}}}
class Context:
    function_name = "timerack-export"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:timerack-export"
    def get_remaining_time_in_millis(self): return 900000
started, cpu = time.perf_counter(), time.process_time()
run = {module}.lambda_handler(event, Context())
assert run["counts"]["queued"] == 1, run
result["invoke_ms"] = (time.perf_counter() - started) * 1000
result["invoke_cpu_ms"] = (time.process_time() - cpu) * 1000
""",
    "export_worker": """
class Context:
    function_name = "timerack-export-worker"; memory_limit_in_mb = 512; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:timerack-export-worker"
    def get_remaining_time_in_millis(self): return 180000
started, cpu = time.perf_counter(), time.process_time()
reply = {module}.lambda_handler(json.load(open({worker_event!r})), Context())
assert reply == {{"batchItemFailures": []}}, reply
result["invoke_ms"] = (time.perf_counter() - started) * 1000
result["invoke_cpu_ms"] = (time.process_time() - cpu) * 1000
""",
    "mailer": """
class Context:
    function_name = "timerack-mailer"; memory_limit_in_mb = 256; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:timerack-mailer"
    def get_remaining_time_in_millis(self): return 60000
started, cpu = time.perf_counter(), time.process_time()
reply = {module}.lambda_handler(json.load(open({event!r})), Context())
assert reply == {{"batchItemFailures": []}}, reply
result["invoke_ms"] = (time.perf_counter() - started) * 1000
result["invoke_cpu_ms"] = (time.process_time() - cpu) * 1000
""",
}


def _seed_server(endpoint: str, scratch: Path) -> tuple[dict[str, str], Path]:
    """Tables, the export queues and one small client on the moto server (for the first-invocation
    figures); the queues' variables, and an SQS event of one queued client of a recorded run (the worker's)."""
    import boto3

    from benchmarks.common import environment
    from benchmarks.data import PRINCIPAL, WEEKEND_BILL, client_key
    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.domain.entities import (
        Assignment,
        Customer,
        Employee,
        HierarchyNode,
        SecurityGroup,
        ServiceRep,
        Week,
    )

    with environment({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}):
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        tables.create_tables(client, "bench-main", "bench-idem")
        admin = AdminStore(client, "bench-main")
        admin.put_node(HierarchyNode(node_id="system", name="System", allows_master_data=False))
        admin.put_node(HierarchyNode(node_id="branch", name="Branch", parent_id="system"))
        admin.put_rep(
            ServiceRep(rep_id="rep-1", name="Portal", principal=PRINCIPAL, current_hierarchy_node_id="branch")
        )
        admin.put_group(
            SecurityGroup(name="Timerack", hierarchy_node_id="system", permissions=["Timerack"], members=["rep-1"])
        )
        admin.put_week(Week(weekend_bill=WEEKEND_BILL, hierarchy_node_id="branch", status="open"))
        # The mailer's sender is a verified SES identity, as the stack makes it.
        boto3.client("sesv2", endpoint_url=endpoint, region_name="us-east-1").create_email_identity(
            EmailIdentity="timerack-bridge@agency.example"
        )
        admin.put_customer(
            Customer(customer_id=10_000, name="Client 0", hierarchy_node_id="branch", timerack_client_key=client_key(0))
        )
        for n in range(5):
            admin.put_assignment(
                Assignment(
                    assignment_id=100_000 + n,
                    employee_id=500_000 + n,
                    customer_id=10_000,
                    hierarchy_node_id="branch",
                    status="Active",
                    start_date=WEEKEND_BILL.replace(month=1, day=5),
                )
            )
            admin.put_employee(
                Employee(
                    employee_id=500_000 + n,
                    first_name="Pat",
                    last_name=f"W{n}",
                    birth_date=WEEKEND_BILL.replace(year=1990, day=1 + n),
                    ssn_last4=f"{n:04d}",
                    hierarchy_node_id="branch",
                )
            )
        return _queued_client(client, boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1"), scratch)


def _queued_client(dynamodb: Any, sqs: Any, scratch: Path) -> tuple[dict[str, str], Path]:
    """The export queues, a run with client 0 queued on it, and the SQS event that hands it to the worker."""
    from datetime import UTC, datetime

    from local.queue_workers import lambda_record
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.export_queue import create_export_queues
    from timerack_bridge.domain.export_models import ClientOutcome, ExportMessage, ExportRun

    queues = create_export_queues(sqs, QUEUE_PREFIX)
    runs = ExportRunStore(dynamodb, "bench-main")
    run = ExportRun(started_at=datetime.now(UTC), destination="outbox", trigger="hourly")
    runs.start(run)
    runs.add_outcomes(run.run_id, [ClientOutcome(client_key="BENCH-0", customer_id=10_000, status="queued")])
    runs.dispatched(run.run_id)
    body = ExportMessage(run_id=run.run_id, customer_id=10_000, trigger="hourly").model_dump_json(by_alias=True)
    arn = sqs.get_queue_attributes(QueueUrl=queues.bulk, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}
    message: dict[str, Any] = {"MessageId": "b-1", "ReceiptHandle": "b-1", "Body": body, "Attributes": attributes}
    event = scratch / "export-worker-event.json"
    event.write_text(json.dumps({"Records": [lambda_record(message, arn, "us-east-1")]}))
    variables = {"EXPORT_QUEUE_URL": queues.bulk, "EXPORT_PRIORITY_QUEUE_URL": queues.priority}
    return variables, event


def bench() -> list[Figure]:
    from benchmarks.data import batch_body

    rounds = repeats(11, 5)
    with tempfile.TemporaryDirectory(prefix="timerack-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        site = runtime_site(scratch)
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in ("floor", *HANDLERS)}
        # The project's code with no bytecode beside it (as Lambda imports a layer built without Python 3.14),
        # its dependencies as they are: the issue-18 figure.
        project = scratch / "no-project-pyc"
        bare_shared = without_bytecode(SHARED_LAYER, project / "shared")
        bare_root = project / "root"
        without_bytecode(ROOT / "functions", bare_root / "functions")
        no_project_pyc: dict[str, list[dict[str, float]]] = {name: [] for name in HANDLERS}
        for _ in range(rounds):  # interleaved, so a burst of machine load hits every subject alike
            for name in samples:
                function = "api" if name == "floor" else name
                folder = str(ROOT / "functions" / function)
                statement = FLOOR if name == "floor" else f"import {HANDLERS[name]}"
                paths = [str(site), str(SHARED_LAYER), folder, str(ROOT)]
                samples[name].append(child(statement, lambda_environment(scratch, function), paths))
                if name in no_project_pyc:
                    bare = [str(site), str(bare_shared), str(bare_root / "functions" / function), str(bare_root)]
                    no_project_pyc[name].append(child(statement, lambda_environment(scratch, function), bare))

        # First invocations: the handlers with a sample event here (the intake worker's is the async section's).
        first: dict[str, list[dict[str, float]]] = {name: [] for name in ("floor", *HANDLERS) if name in _INVOKE}
        no_pyc: dict[str, list[dict[str, float]]] = {"floor": [], "api": []}
        bare = scratch / "no-pyc"
        bare_paths = [
            str(without_bytecode(site, bare / "site")),
            str(without_bytecode(SHARED_LAYER, bare / "shared")),
            str(without_bytecode(ROOT / "functions" / "api", bare / "function")),
            str(ROOT),
        ]
        with moto_server() as endpoint:
            queue_variables, worker_event = _seed_server(endpoint, scratch)
            body = json.dumps(batch_body(5))
            for _ in range(repeats(3, 2)):
                for name in first:
                    function = "api" if name == "floor" else name
                    statement = FLOOR if name == "floor" else f"import {HANDLERS[name]}"
                    invoke = _INVOKE[name].format(
                        module=HANDLERS.get(name), body=body, event=str(MAILER_EVENT), worker_event=str(worker_event)
                    )
                    paths = [str(site), str(SHARED_LAYER), str(ROOT / "functions" / function), str(ROOT)]
                    env = lambda_environment(scratch, function, {"AWS_ENDPOINT_URL": endpoint, **queue_variables})
                    first[name].append(child(statement, env, paths, invoke))
                    if name in no_pyc:
                        # No compiled files beside the sources: every layer module is compiled on import,
                        # as from a layer built without Python 3.14 at hand (no bytecode; /opt read-only).
                        no_pyc[name].append(child(statement, env, bare_paths, invoke))

    floor = median([s["import_ms"] for s in samples["floor"]])
    floor_cpu = median([s["import_cpu_ms"] for s in samples["floor"]])
    figures = [
        Figure(
            SECTION,
            "floor: boto3 + pydantic + Powertools Logger",
            floor,
            "ms",
            note=f"import in a fresh process, median of {rounds}; CPU {floor_cpu:.0f} ms",
        )
    ]
    for name, module in HANDLERS.items():
        value = median([s["import_ms"] for s in samples[name]])
        cpu = median([s["import_cpu_ms"] for s in samples[name]])
        figures.append(
            Figure(
                SECTION,
                f"import {module}",
                value,
                "ms",
                floor=floor,
                target=f"<= {TARGET}x",
                holds=value <= TARGET * floor,
                note=f"CPU {cpu:.0f} ms ({cpu / floor_cpu:.2f}x the floor's CPU)",
            )
        )
    for name, module in HANDLERS.items():
        value = median([s["import_ms"] for s in no_project_pyc[name]])
        target = API_TARGET if name == "api" else TARGET
        figures.append(
            Figure(
                SECTION,
                f"import {module}, no bytecode for the project's code",
                value,
                "ms",
                floor=floor,
                target=f"<= {target}x",
                holds=value <= target * floor,
                note="the shared layer and the handler compiled on import; dependencies as the layer ships them",
            )
        )
    what = {
        "api": "POST of 10 timecards",
        "export": "scheduled dispatch, 1 client",
        "export_worker": "one queued client",
        "mailer": "sample stream event",
    }

    # First invocations are compared in CPU time: the wall time adds the stand-in server's own work.
    def cpu_of(runs: list[dict[str, float]]) -> float:
        return median([r["import_cpu_ms"] + r["invoke_cpu_ms"] for r in runs])

    def wall_of(runs: list[dict[str, float]]) -> float:
        return median([r["import_ms"] + r["invoke_ms"] for r in runs])

    first_floor = cpu_of(first["floor"])
    figures.append(
        Figure(
            SECTION,
            "floor + DynamoDB client + one GetItem (CPU)",
            first_floor,
            "ms",
            note=(
                "the least a DynamoDB-backed function computes on its first invoke; "
                f"wall {wall_of(first['floor']):.0f} ms with moto's server on 127.0.0.1"
            ),
        )
    )
    for name in (n for n in HANDLERS if n in first):
        invoke_cpu = median([r["invoke_cpu_ms"] for r in first[name]])
        figures.append(
            Figure(
                SECTION,
                f"{name}: import + first invoke, CPU ({what[name]})",
                cpu_of(first[name]),
                "ms",
                floor=first_floor,
                note=(
                    f"informational: the first invoke alone {invoke_cpu:.0f} ms CPU (what the import defers, the "
                    f"boto3 client, the request); wall {wall_of(first[name]):.0f} ms"
                ),
            )
        )
    for name, label in (("floor", "floor + client + GetItem"), ("api", "api: import + first invoke")):
        with_pyc, without = cpu_of(first[name]), cpu_of(no_pyc[name])
        figures.append(
            Figure(
                SECTION,
                f"{label}, CPU, no .pyc",
                without,
                "ms",
                floor=with_pyc,
                note="informational: floor column = the same with .pyc; layers built without Python 3.14 (no bytecode)",
            )
        )
    return figures


def main() -> None:  # pragma: no cover - manual use
    from benchmarks.common import table

    print(table(bench()))


if __name__ == "__main__":  # pragma: no cover
    main()
