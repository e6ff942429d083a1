"""`timerack-bridge`: run the local runtime, print a token, run an export, import a Timerack Feed."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path


def _state_dir() -> Path:
    return Path(os.environ.get("TIMERACK_STATE_DIR", ".local"))


def cmd_run(_: argparse.Namespace) -> int:
    from infra.local.runtime import LocalRuntime, RuntimeConfig
    from infra.local.tokens import issue_token

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: one line per AWS call is noise
    config = RuntimeConfig.from_env()
    runtime = LocalRuntime(config)
    print("Starting Timerack Bridge (local runtime) ...", flush=True)
    runtime.start()
    principal = str(runtime.seeded.get("principal", "timerack-portal"))
    demo = (
        f"clients ACME-1 (connect) and INITECH-1 (manual import), week ending {runtime.seeded['weekendBill']}"
        if runtime.seeded
        else "off (TIMERACK_SEED=0)"
    )
    print(
        "\n".join(
            [
                f"Timerack Bridge is running on {runtime.url}  (Ctrl-C stops it)",
                f"  Swagger UI:       {runtime.url}/swagger",
                f"  Health:           {runtime.url}/v1/health",
                f"  Demo data:        {demo}",
                f"  Exports go to:    {runtime.outbox_dir}/<clientKey>/latest.json (every {config.export_interval:g}s)",
                f"  Emails go to:     {runtime.email_dir}/*.eml",
                f"  Timerack token ({principal}):",
                f"    {issue_token(runtime.key, principal)}",
                "  Admin token:",
                f"    {issue_token(runtime.key, 'agency-admin', admin=True)}",
                "  More tokens:      .venv/bin/timerack-bridge token --principal P [--admin]",
            ]
        ),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    print("\nStopping ...", flush=True)
    runtime.stop()
    print("Stopped.", flush=True)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from infra.local.tokens import issue_token, signing_key

    print(issue_token(signing_key(_state_dir()), args.principal, admin=args.admin, ttl_seconds=args.ttl))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from infra.local.remote import ApiClient

    runtime_file = _state_dir() / "runtime.json"
    if args.api_url is None and runtime_file.exists():
        return _export_locally(json.loads(runtime_file.read_text()), args.client)
    args.api_url = args.api_url or "http://127.0.0.1:3000"
    client = ApiClient.from_args(args)
    body = {"clientKey": args.client} if args.client else {}
    print(f"Exporting {'client ' + args.client if args.client else 'every client'} ...", file=sys.stderr)
    status, reply = client.call("POST", "/v1/exports", body)
    print(json.dumps(reply, indent=2))
    return 0 if status == 200 else 1


def _export_locally(runtime: dict[str, str], client_key: str | None) -> int:
    """Run the export against the running local stack's stand-in, with a progress bar."""
    import boto3

    from timerack_bridge.adapters.destinations import OutboxDestination
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.domain.export_models import ClientOutcome
    from timerack_bridge.logic.export_run import run_export

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=runtime["motoUrl"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's stand-in credentials
    )
    store = AdminStore(dynamodb, runtime["tableName"])
    total = 1 if client_key else sum(1 for _ in store.iter_clients())
    done = 0

    def progress(outcome: ClientOutcome) -> None:
        nonlocal done
        done += 1
        width = 30
        filled = width * done // max(total, 1)
        print(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} clients  {outcome.client_key}: "
            f"{outcome.status}".ljust(100),
            end="",
            file=sys.stderr,
            flush=True,
        )

    run = run_export(store, OutboxDestination(Path(runtime["outboxDir"])), client_key=client_key, progress=progress)
    print(file=sys.stderr)
    print(run.model_dump_json(by_alias=True, indent=2))
    return 0 if run.failures == 0 else 1


def cmd_import(args: argparse.Namespace) -> int:
    from infra.local.remote import import_feed

    return import_feed(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="timerack-bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the local runtime (moto, API, export schedule, mailer)")
    run.set_defaults(func=cmd_run)

    token = sub.add_parser("token", help="print a bearer token the running local stack accepts")
    token.add_argument("--principal", required=True, help="the caller (a service rep's principal)")
    token.add_argument("--admin", action="store_true", help="add the timerack/admin scope")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

    def remote_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--api-url",
            default=os.environ.get("TIMERACK_API_URL"),
            help="the API (default: the local stack on http://127.0.0.1:3000)",
        )
        p.add_argument(
            "--token",
            default=os.environ.get("TIMERACK_TOKEN"),
            help="bearer token (default: one for --principal signed by the local stack)",
        )
        p.add_argument("--principal", default="timerack-portal")

    export = sub.add_parser("export", help='run the export now ("Update From TempWorks")')
    export.add_argument("--client", help="one client key (default: every client)")
    remote_options(export)
    export.set_defaults(func=cmd_export)

    feed = sub.add_parser("import", help='import a Timerack Feed CSV (Timecard Import, Feed Type "Timerack Feed")')
    feed.add_argument("file", type=Path)
    feed.add_argument("--parent-customer", type=int, required=True)
    feed.add_argument("--weekend-bill", required=True)
    feed.add_argument("--dry-run", action="store_true")
    remote_options(feed)
    feed.set_defaults(func=cmd_import)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
