"""Queues: encrypted with the tenant's key and SSL only; a work queue redrives to a dead-letter queue kept for the
SQS maximum."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.nag import acknowledge


def dead_letter_queue(scope: Construct, construct_id: str, *, receives: str, key: kms.IKey) -> sqs.Queue:
    """A queue that is itself the last stop for failed `receives`; it gets no DLQ of its own."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=constants.DEAD_LETTER_RETENTION,
    )
    reason = f"This queue is the dead-letter queue of {receives}; a DLQ of a DLQ adds nothing."
    acknowledge(queue, "AwsSolutions-SQS3", reason)
    acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
    return queue


@dataclass(frozen=True)
class WorkQueue:
    """A queue of work and the dead-letter queue its messages move to after `max_receives` receives."""

    queue: sqs.Queue
    dead_letter_queue: sqs.Queue


def work_queue(
    scope: Construct,
    construct_id: str,
    *,
    purpose: str,
    visibility_timeout: Duration,
    max_receives: int,
    retention: Duration,
    key: kms.IKey,
) -> WorkQueue:
    """`construct_id` and `construct_id`Dlq: a message received `max_receives` times without being
    deleted goes to the dead-letter queue on its next receive."""
    dead = dead_letter_queue(scope, f"{construct_id}Dlq", receives=purpose, key=key)
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=retention,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=max_receives),
    )
    return WorkQueue(queue=queue, dead_letter_queue=dead)
