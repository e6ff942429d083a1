"""`timerack-bridge`: run the local runtime, print a token, run an export, import a Timerack Feed."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from local.config import LOG_FORMAT, LocalError, RuntimeConfig, RuntimeInfo, state_dir

LOCAL_ADMIN = "agency-admin"  # the principal of the local runtime's admin token

if TYPE_CHECKING:
    from local.runtime import LocalRuntime


def cmd_run(args: argparse.Namespace) -> int:
    from local.runtime import LocalRuntime

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server: one line per AWS call is noise
    runtime = LocalRuntime(RuntimeConfig.from_env(fresh=args.fresh))
    print("Starting Timerack Bridge (local runtime) ...", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runtime.start()
        print(_banner(runtime), flush=True)
        stop.wait()
        print("\nStopping ...", flush=True)
    finally:
        runtime.stop()
    print("Stopped.", flush=True)
    return 0


def _banner(runtime: LocalRuntime) -> str:
    from local.tokens import issue_token

    config = runtime.config
    principal = str(runtime.seeded.get("principal", "timerack-portal"))
    if runtime.seeded:
        demo = f"clients ACME-1 (connect) and INITECH-1 (manual import), week ending {runtime.seeded['weekendBill']}"
    elif runtime.kept_items:
        demo = f"kept from the last run ({runtime.tables_file}); `make run TIMERACK_FRESH=1` starts over"
    else:
        demo = "off (TIMERACK_SEED=0)"
    return "\n".join(
        [
            f"Timerack Bridge is running on {runtime.url}  (Ctrl-C stops it, keeping its data)",
            f"  Swagger UI:       {runtime.url}/swagger",
            f"  Health:           {runtime.url}/v1/health",
            f"  Data:             {demo}",
            f"  Exports go to:    {runtime.outbox_dir}/<clientKey>/latest.json (every {config.export_interval:g}s,",
            f"                    and seconds after a saved change; {config.export_concurrency} clients at once)",
            f"  Emails go to:     {runtime.email_dir}/*.eml",
            f"  Timerack token ({principal}):",
            f"    {issue_token(runtime.key, principal)}",
            "  Admin token:",
            f"    {issue_token(runtime.key, LOCAL_ADMIN, admin=True)}",
            "  More tokens:      .venv/bin/timerack-bridge token --principal P [--admin]",
        ]
    )


def cmd_token(args: argparse.Namespace) -> int:
    from local.tokens import issue_token, signing_key

    print(issue_token(signing_key(state_dir()), args.principal, admin=args.admin, ttl_seconds=args.ttl))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from local.remote import ApiClient, export_through_api

    running = RuntimeInfo.read(state_dir())
    if args.api_url is None and args.token is None and running is not None:
        from local.export_now import export_on_stand_in

        return export_on_stand_in(running, args.client)
    client = ApiClient.for_caller(args.api_url, args.token, _principal(args), admin=args.admin)
    return export_through_api(client, args.client)


def cmd_import(args: argparse.Namespace) -> int:
    from local.remote import ApiClient, import_feed, read_feed

    read_feed(args.file)  # a missing file fails before the API is looked for
    client = ApiClient.for_caller(args.api_url, args.token, _principal(args), admin=args.admin)
    return import_feed(client, args.file, args.parent_customer, args.weekend_bill, args.dry_run)


def _principal(args: argparse.Namespace) -> str:
    """The caller of a locally signed token: --principal, else the demo admin (--admin) or Timerack's portal."""
    return str(args.principal or (LOCAL_ADMIN if args.admin else "timerack-portal"))


def _remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url",
        default=os.environ.get("TIMERACK_BRIDGE_URL"),
        help="the API (default: the running local runtime, found through TIMERACK_STATE_DIR and TIMERACK_PORT)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("TIMERACK_TOKEN"),
        help="bearer token, e.g. a TempWorks admin's (default: one for --principal signed by the local runtime)",
    )
    parser.add_argument("--principal", help="the caller of the local token (default: timerack-portal)")
    parser.add_argument(
        "--admin",
        action="store_true",
        help=f"act as a TempWorks admin: the local token carries the timerack/admin scope (principal {LOCAL_ADMIN})",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="timerack-bridge", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the local runtime (moto, API, export schedule and workers, mailer)")
    run.add_argument(
        "--fresh", action="store_true", help="start from empty tables and the demo data (also TIMERACK_FRESH=1)"
    )
    run.set_defaults(func=cmd_run)

    token = sub.add_parser("token", help="print a bearer token the running local stack accepts")
    token.add_argument("--principal", required=True, help="the caller (a service rep's principal)")
    token.add_argument("--admin", action="store_true", help="add the timerack/admin scope")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

    export = sub.add_parser(
        "export",
        help='run the export now ("Update From TempWorks"): queue it, then show its progress until it is finished',
    )
    export.add_argument("--client", help="one client key (default: every client)")
    _remote_options(export)
    export.set_defaults(func=cmd_export)

    feed = sub.add_parser("import", help='import a Timerack Feed CSV (Timecard Import, Feed Type "Timerack Feed")')
    feed.add_argument("file", type=Path)
    feed.add_argument("--parent-customer", type=int, required=True)
    feed.add_argument("--weekend-bill", required=True)
    feed.add_argument("--dry-run", action="store_true")
    _remote_options(feed)
    feed.set_defaults(func=cmd_import)
    return root


def main(argv: list[str] | None = None) -> int:
    """Run one command; any failure is one line on stderr and a non-zero exit, never a traceback."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LocalError as exc:
        print(f"timerack-bridge: {exc}", file=sys.stderr)
    except OSError as exc:  # a port in use, a state directory that cannot be written ...
        print(f"timerack-bridge: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the CLI's promise: one line, never a traceback
        print(f"timerack-bridge: {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
