"""The local runtime answers many callers at once, each with its own identity, as several Lambda instances would."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CLIENTS = 50


def test_fifty_concurrent_clients_all_get_their_own_answer(local_stack: LocalStack) -> None:
    allowed, stranger = local_stack.token("timerack-portal"), local_stack.token("stranger")
    batch = {"clientKey": "ACME-1", "timecards": [{"assignmentId": 1001, "employeeId": 501, "payCode": "REG"}]}
    barrier = threading.Barrier(CLIENTS)
    answers: dict[int, int | str] = {}

    def client(number: int) -> None:
        # Half may send (200), half may not (403): a request served with another caller's identity shows.
        token = allowed if number % 2 == 0 else stranger
        request = urllib.request.Request(
            f"{local_stack.url}/v1/timecard-batches?dryRun=true",
            data=json.dumps(batch).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                answers[number] = response.status
        except urllib.error.HTTPError as error:
            answers[number] = error.code
        except OSError as error:  # connection reset or refused: no answer at all
            answers[number] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert answers == {n: 200 if n % 2 == 0 else 403 for n in range(CLIENTS)}
