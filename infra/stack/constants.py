"""Names, paths and sizes of the tenant stack, in one place."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANTS_FILE = REPO_ROOT / "infra" / "tenants.json"
CDK_JSON = REPO_ROOT / "cdk.json"

FUNCTIONS_DIR = REPO_ROOT / "functions"
SHARED_LAYER_DIR = REPO_ROOT / "layers" / "shared"
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
]

STACK_PREFIX = "TimerackBridge"
APPLICATION_TAG = "TimerackBridge"
METRICS_NAMESPACE = "TimerackBridge"

# Functions: folder under functions/, handler, memory (MB), timeout. The reasons are in
# docs/decision_log_infra.md.
API_FUNCTION = "api"
API_HANDLER = "handler.lambda_handler"
API_MEMORY_MB = 1024
# Just under API Gateway's 29 s integration timeout, so a slow request ends as a logged
# Lambda timeout instead of running on after the caller got a 504.
API_TIMEOUT = Duration.seconds(28)

EXPORT_FUNCTION = "export"
EXPORT_HANDLER = "handler.lambda_handler"
EXPORT_MEMORY_MB = 512
EXPORT_TIMEOUT = Duration.minutes(10)
EXPORT_ASYNC_RETRIES = 1
EXPORT_MAX_EVENT_AGE = Duration.hours(1)

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

# Alarms
ALARM_PERIOD = Duration.minutes(5)
MAILER_ITERATOR_AGE_ALARM = Duration.minutes(15)

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

# DynamoDB actions per function (no wildcard; transactions are authorised per item action).
API_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
]
IDEMPOTENCY_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]
# BatchWriteItem: the run's client outcomes (adapters/dynamodb/export_runs.py).
EXPORT_TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
]
# GetItem: the customer (and, for a batch stored before the setting was kept on it, BatchGetItem: its
# customer's current settings); Put/Update/DeleteItem: the one-email-per-batch marker.
MAILER_TABLE_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
]
STREAM_READ_ACTIONS = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]
