"""The `DispatchStarter` on AWS: an async invoke of the export dispatcher function.

`InvocationType="Event"`: Lambda queues the event and answers 202 at once; the dispatcher then reads,
records and queues the run's clients within its own timeout (minutes), not the API's 28 s. A failed
dispatch is retried by Lambda and then sent to the dispatcher's on-failure destination (its
dead-letter queue), as its hourly runs are.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from timerack_bridge.domain.export_models import DispatchRequest
from timerack_bridge.logic.ports import DispatchStartError

# What Lambda answers an accepted async invoke.
ACCEPTED = 202


class LambdaDispatchStarter:
    """Hands a run to the dispatcher function named `function_name`, on one boto3 Lambda client."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self.client = lambda_client
        self.function_name = function_name

    def start(self, request: DispatchRequest) -> None:
        payload = request.model_dump_json(by_alias=True).encode()
        try:
            reply = self.client.invoke(FunctionName=self.function_name, InvocationType="Event", Payload=payload)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "an error")
            raise DispatchStartError(f"Lambda refused to invoke the export dispatcher: {code}") from exc
        except BotoCoreError as exc:
            raise DispatchStartError(f"Lambda could not be reached: {type(exc).__name__}") from exc
        status = reply.get("StatusCode")
        if status != ACCEPTED:
            raise DispatchStartError(f"Lambda answered the export dispatcher's invoke with {status}, not {ACCEPTED}")
