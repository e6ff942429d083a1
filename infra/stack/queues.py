"""Dead-letter queues: encrypted, SSL only, kept for the SQS maximum."""

from __future__ import annotations

from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.nag import acknowledge


def dead_letter_queue(scope: Construct, construct_id: str, *, receives: str) -> sqs.Queue:
    """A queue that is itself the last stop for failed `receives`; it gets no DLQ of its own."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=constants.DEAD_LETTER_RETENTION,
    )
    reason = f"This queue is the dead-letter queue of {receives}; a DLQ of a DLQ adds nothing."
    acknowledge(queue, "AwsSolutions-SQS3", reason)
    acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
    return queue
