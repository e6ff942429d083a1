"""Names, paths and sizes of the tenant stack, in one place."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANTS_FILE = REPO_ROOT / "infra" / "tenants.json"
CDK_JSON = REPO_ROOT / "cdk.json"

FUNCTIONS_DIR = REPO_ROOT / "functions"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
# `make layers` copies the shared layer here with the runtime Python's bytecode (when that Python is on the
# build machine); the stack ships it while its sources are the shared layer's, byte for byte.
SHARED_LAYER_BUILD_DIR = REPO_ROOT / "layers" / "shared-build"
DEPENDENCIES_LAYER_DIR = REPO_ROOT / "layers" / "dependencies"
# What never goes into a Lambda asset.
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".pytest_cache", "tests", ".build-stamp"]
# The Lambda runtime's Python; infra/build_layers.sh builds the dependency layer for the same version.
LAMBDA_PYTHON = "3.14"
# The dependency layer keeps the bytecode infra/build_layers.sh compiles for the runtime's Python
# (when that interpreter is on the build machine): /opt is read-only, so without it every cold start
# compiles boto3, botocore, pydantic and Powertools from source (docs/benchmarks.md). Bytecode of any
# other Python is left out. Later patterns win: the "!" pattern takes the runtime's .pyc back.
DEPENDENCY_LAYER_EXCLUDES = [
    "**/*.pyc",
    f"!**/__pycache__/*.cpython-{LAMBDA_PYTHON.replace('.', '')}.pyc",
    ".pytest_cache",
    "tests",
    ".build-stamp",
    "requirements.lock",
]

STACK_PREFIX = "TimerackBridge"
APPLICATION_TAG = "TimerackBridge"
# The functions' metrics go to `TimerackBridge/<tenant>` (TenantConfig.metrics_namespace): two tenants of one
# account and region never add up in one metric.
METRICS_NAMESPACE = "TimerackBridge"
# The stack of one account and region that holds its singletons (infra/stack/regional.py).
REGIONAL_STACK_PREFIX = "TimerackBridgeRegional"

# Functions: folder under functions/, handler, memory (MB), timeout. The reasons are in
# docs/decision_log_infra.md.
API_FUNCTION = "api"
API_HANDLER = "handler.lambda_handler"
API_MEMORY_MB = 1024
# Just under API Gateway's 29 s integration timeout, so a slow request ends as a logged
# Lambda timeout instead of running on after the caller got a 504.
API_TIMEOUT = Duration.seconds(28)

# The export dispatcher (the hourly rule's target): reads the clients and queues one message each.
EXPORT_FUNCTION = "export"
EXPORT_HANDLER = "handler.lambda_handler"
EXPORT_MEMORY_MB = 512
EXPORT_TIMEOUT = Duration.minutes(10)
EXPORT_ASYNC_RETRIES = 1
EXPORT_MAX_EVENT_AGE = Duration.hours(1)

# The export worker: one client per queue message. Its timeout, the queues' visibility timeout (6 x the
# timeout) and their redrive come from timerack_bridge/adapters/export_queue.py (infra/stack/export.py),
# the values the local runtime's queues use too.
EXPORT_WORKER_FUNCTION = "export_worker"
EXPORT_WORKER_HANDLER = "handler.lambda_handler"
EXPORT_WORKER_MEMORY_MB = 512
# One message (one client) per invocation: a failure is that client's alone, and a retry resends only it.
EXPORT_BATCH_SIZE = 1
# Lambda's least maximum concurrency of an SQS event source: a manual or change-driven update never waits
# behind the hourly drain, which tenant `exportConcurrency` bounds on the bulk lane.
EXPORT_PRIORITY_CONCURRENCY = 2
# A client's lease outlives one worker invocation (210 s, WORKER_TIMEOUT_SECONDS), so a worker never outlives its lease.
EXPORT_LEASE_SECONDS = 240
# How long a saved admin change waits on the queue before its client is exported (the debounce window).
EXPORT_CHANGE_DELAY_SECONDS = 10
# Messages on the lanes expire after a day: the hourly run queues every client again anyway.
EXPORT_QUEUE_RETENTION = Duration.days(1)

# The intake worker: one accepted batch (over SYNC_BATCH_TIMECARDS) per queue message. A full vCPU (1769 MB):
# a batch is CPU-bound; 5 minutes covers 20,000 timecards with the DynamoDB writes (docs/benchmarks.md).
INTAKE_WORKER_FUNCTION = "intake_worker"
INTAKE_WORKER_HANDLER = "handler.lambda_handler"
INTAKE_WORKER_MEMORY_MB = 1769
INTAKE_WORKER_TIMEOUT = Duration.minutes(5)
# One batch per invocation, at most 5 at once a tenant: the table's capacity is shared with the export.
INTAKE_BATCH_SIZE = 1
INTAKE_WORKER_CONCURRENCY = 5
# A batch is not handed to a second worker while the first may still write it (AWS's advice: 6 x the timeout).
INTAKE_QUEUE_VISIBILITY_TIMEOUT = Duration.seconds(6 * INTAKE_WORKER_TIMEOUT.to_seconds())
# The third failed receive sends the batch id to the dead-letter queue (and its alarm).
INTAKE_MAX_RECEIVES = 3
INTAKE_QUEUE_RETENTION = Duration.days(4)
# The sweep: batches accepted but never picked up (the API stopped before queuing) are queued again.
INTAKE_SWEEP_SCHEDULE = Duration.minutes(15)
# A failed sweep is not retried: the next one runs within 15 minutes (its failure is kept and alarmed).
INTAKE_SWEEP_RETRIES = 0
INTAKE_SWEEP_MAX_EVENT_AGE = Duration.minutes(15)
# The intake bucket: bodies the worker never removed (it deletes each one it wrote) and unused uploads expire;
# results/ stay as long as Payroll History (no expiry).
INTAKE_BODY_EXPIRATION = Duration.days(7)
INTAKE_UPLOAD_EXPIRATION = Duration.days(1)
INTAKE_ACCESS_LOG_EXPIRATION = Duration.days(365)
# An accepted batch waiting 10 minutes: the workers are failing or throttled.
INTAKE_QUEUE_AGE_ALARM = Duration.minutes(10)

MAILER_FUNCTION = "mailer"
MAILER_HANDLER = "handler.lambda_handler"
MAILER_MEMORY_MB = 256
MAILER_TIMEOUT = Duration.seconds(60)
MAILER_BATCH_SIZE = 10
MAILER_RETRY_ATTEMPTS = 5
MAILER_MAX_RECORD_AGE = Duration.days(1)

# The schedule's delivery retries (EventBridge -> export function).
SCHEDULE_RETRY_ATTEMPTS = 3
SCHEDULE_MAX_EVENT_AGE = Duration.hours(1)

# API
API_STAGE_NAME = "prod"
RESOURCE_SERVER_ID = "timerack"
SCOPE_TIMECARDS_WRITE = "timecards.write"
SCOPE_ADMIN = "admin"
ACCESS_TOKEN_VALIDITY = Duration.hours(1)
# A portal user signs in once a working day: the refresh token then renews the hourly access token.
PORTAL_SESSION_VALIDITY = Duration.hours(12)
WAF_RATE_LIMIT_PER_5_MIN = 10_000

# Dead-letter and failure queues keep messages for the maximum SQS retention.
DEAD_LETTER_RETENTION = Duration.days(14)

# The export bucket (S3 tenants): each client's object is overwritten every hour, so every old version is
# another copy of its PINs. Old versions are for undoing a bad overwrite, found within a weekend.
EXPORT_NONCURRENT_VERSION_EXPIRATION = Duration.days(3)
EXPORT_ACCESS_LOG_EXPIRATION = Duration.days(365)

# Alarms
ALARM_PERIOD = Duration.minutes(5)
MAILER_ITERATOR_AGE_ALARM = Duration.minutes(15)
# An hourly drain that would not finish before the next run starts.
EXPORT_QUEUE_AGE_ALARM = Duration.minutes(50)
# Failed work waiting in a dead-letter queue for a day: nobody has redriven or looked at it (its depth alarm
# fired when it arrived); messages expire after DEAD_LETTER_RETENTION.
DEAD_LETTER_AGE_ALARM = Duration.days(1)
# Business failures counted over an hour: any one raises the alarm.
FAILURE_ALARM_PERIOD = Duration.hours(1)
# The metrics the functions publish (Powertools, dimension `service`) that the alarms and the dashboard read:
# functions/export_worker/handler.py, functions/export/handler.py, timerack_bridge/logic/error_file.py and
# timerack_bridge/logic/export_changes.py (tests/infra/test_monitoring.py checks the names are still there).
WORKER_METRICS = ("exported", "failed", "retried", "skipped")
WORKER_FAILED_METRIC = "failed"
DISPATCHER_METRICS = ("clients", "queued", "skipped", "failures", "lost")  # lost: clients the hourly sweep found lost
DISPATCHER_FAILED_METRIC = "failures"
MAILER_METRICS = ("ErrorFileSent", "ErrorFileSkipped", "ErrorFileSendFailed", "ErrorFileDeliveryUnknown")
MAILER_FAILED_METRIC = "ErrorFileSendFailed"
API_NOT_QUEUED_METRIC = "exportChangesNotQueued"

# Environment variable names the functions read.
ENV_TABLE_NAME = "TABLE_NAME"
ENV_IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
ENV_PAY_CODES = "PAY_CODES"
ENV_WEEK_ENDING_DAY = "WEEK_ENDING_DAY"
ENV_EXPORT_DESTINATION = "EXPORT_DESTINATION"
ENV_TIMERACK_API_URL = "TIMERACK_API_URL"
ENV_EXPORT_BUCKET = "EXPORT_BUCKET"
ENV_TIMERACK_API_TOKEN_SECRET_ARN = "TIMERACK_API_TOKEN_SECRET_ARN"  # noqa: S105 (a variable name)
ENV_SENDER_EMAIL = "SENDER_EMAIL"
ENV_EXPORT_QUEUE_URL = "EXPORT_QUEUE_URL"
ENV_EXPORT_PRIORITY_QUEUE_URL = "EXPORT_PRIORITY_QUEUE_URL"
ENV_EXPORT_CHANGE_DELAY_SECONDS = "EXPORT_CHANGE_DELAY_SECONDS"
ENV_EXPORT_DISPATCHER_FUNCTION = "EXPORT_DISPATCHER_FUNCTION"
ENV_EXPORT_MAX_RECEIVES = "EXPORT_MAX_RECEIVES"
ENV_INTAKE_MAX_RECEIVES = "INTAKE_MAX_RECEIVES"
ENV_EXPORT_LEASE_SECONDS = "EXPORT_LEASE_SECONDS"
ENV_INTAKE_BUCKET = "INTAKE_BUCKET"
ENV_INTAKE_QUEUE_URL = "INTAKE_QUEUE_URL"
ENV_SYNC_BATCH_TIMECARDS = "SYNC_BATCH_TIMECARDS"

# DynamoDB actions per function (no wildcard): on the main table's items, and on its indexes (which take Query
# only: an index is granted nothing its function does not ask of it). A transaction (TransactWriteItems) has no
# IAM action of its own: it is authorised per item action (PutItem, UpdateItem, DeleteItem, ConditionCheckItem).
# tests/least_privilege.py records every call each function's code makes across the suite and checks it against
# these grants (docs/decision_log_infra.md, "Least privilege").
# The API: items of the admin data, timecards and runs (Get/Put/Update/Delete, BatchGetItem the employees of a
# page); Query the table's partitions; BatchWriteItem a queued run's outcomes (POST /v1/exports, saved changes).
# No ConditionCheckItem: no transaction of its code holds a condition check.
API_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
]
API_INDEX_ACTIONS = ["dynamodb:Query"]
# Powertools idempotency: PutItem the in-progress record, UpdateItem it completed, GetItem an existing record
# (a repeated key), DeleteItem it when the request fails (so a retry may run): the paths a test seldom takes.
IDEMPOTENCY_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]
# The dispatcher: Query the clients (and a client by key) on the indexes; PutItem the run, BatchWriteItem its
# "queued" outcomes, UpdateItem the run when dispatched; a client that could not be queued is settled
# (GetItem its outcome, then a transaction of Put outcome + Update run); the hourly sweep of lost exports
# Queries a recent run's outcomes on the table.
EXPORT_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:Query",
]
EXPORT_INDEX_ACTIONS = ["dynamodb:Query"]
# The worker: GetItem the customer, Query its assignments and child customers on the indexes, BatchGetItem
# their employees; PutItem/DeleteItem the client's lease (conditional writes, no transaction); DeleteItem the
# pending-change marker; settle the outcome (GetItem, then a transaction of Put outcome + Update run); a change
# saved while it exported is queued once more as a run of its own (PutItem the run, BatchWriteItem its outcome).
EXPORT_WORKER_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
]
EXPORT_WORKER_INDEX_ACTIONS = ["dynamodb:Query"]
# The intake worker writes an accepted batch as the API writes a smaller one: GetItem the batch record, the
# customer and its settings, BatchGetItem the reps, assignments and unit headers, Query the hierarchy; PutItem
# the completed batch; transactions of Put (unit header, timecards, version) and Delete (a dropped pay code).
# The sweep Queries the batches (gsi2) for those accepted and never picked up.
INTAKE_WORKER_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",  # the sweep marks a batch it queues again (once per batch)
    "dynamodb:DeleteItem",
]
INTAKE_WORKER_INDEX_ACTIONS = ["dynamodb:Query"]
# The intake bucket's objects, by prefix (adapters/batch_objects.py), and what each function does with them.
# The API stores a body (intake/), a big batch's results (results/, read back by GET /v1/payroll-history), and
# signs upload URLs (uploads/: the client's PUT acts with the API's rights), then reads and removes the upload.
INTAKE_BODY_PREFIX = "intake/"
INTAKE_RESULTS_PREFIX = "results/"
INTAKE_UPLOAD_PREFIX = "uploads/"
API_INTAKE_OBJECT_ACTIONS = {
    INTAKE_BODY_PREFIX: ["s3:PutObject"],
    INTAKE_RESULTS_PREFIX: ["s3:GetObject", "s3:PutObject"],
    INTAKE_UPLOAD_PREFIX: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
}
# The worker reads and removes the body, writes (and a redelivery reads) the results.
INTAKE_WORKER_OBJECT_ACTIONS = {
    INTAKE_BODY_PREFIX: ["s3:DeleteObject", "s3:GetObject"],
    INTAKE_RESULTS_PREFIX: ["s3:GetObject", "s3:PutObject"],
}
# The mailer reads a big batch's results for its error file.
MAILER_INTAKE_OBJECT_ACTIONS = {INTAKE_RESULTS_PREFIX: ["s3:GetObject"]}
# GetItem: the customer (and, for a batch stored before the setting was kept on it, BatchGetItem: its
# customer's current settings); Put/Update/DeleteItem: the one-email-per-batch marker. No index.
MAILER_TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
]
MAILER_INDEX_ACTIONS: list[str] = []
# SES v2 SendEmail (raw MIME content included) is authorised by ses:SendEmail alone (ses:SendRawEmail is
# the v1 API's action), as the tenant's sender identity.
MAILER_SES_ACTIONS = ["ses:SendEmail"]
STREAM_READ_ACTIONS = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]
