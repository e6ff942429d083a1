"""Swagger a clerk can read: every operation grouped by tag, with a summary, a description and example bodies."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter

from infra.openapi import served_document
from tests.conftest import ApiCall

TAGS = ("Admin data", "Timecards", "Payroll History", "Exports", "Imports", "Health")
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return served_document()


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def body_examples(operation: dict[str, Any]) -> dict[str, Any]:
    examples: dict[str, Any] = operation["requestBody"]["content"]["application/json"].get("examples", {})
    return examples


def test_the_document_lists_the_six_tags_in_order_each_described(document: dict[str, Any]) -> None:
    assert [tag["name"] for tag in document.get("tags", [])] == list(TAGS)
    assert all(tag.get("description") for tag in document["tags"])


def test_every_operation_has_one_of_the_six_tags(document: dict[str, Any]) -> None:
    untagged = [name for name, op in operations(document) if len(op.get("tags", [])) != 1 or op["tags"][0] not in TAGS]
    assert untagged == []


def test_every_operation_has_a_one_line_summary_of_its_own(document: dict[str, Any]) -> None:
    # Powertools' default summary is the method and path: it says nothing a clerk does not see already.
    missing = [
        name
        for name, op in operations(document)
        if not op.get("summary") or op["summary"] == name or "\n" in op["summary"] or len(op["summary"]) > 80
    ]
    assert missing == []


def test_every_operation_has_a_description(document: dict[str, Any]) -> None:
    assert [name for name, op in operations(document) if len(op.get("description", "")) < 40] == []


def test_every_body_has_an_example_valid_against_its_schema(document: dict[str, Any]) -> None:
    with_body = [(name, op) for name, op in operations(document) if "requestBody" in op]
    assert with_body
    for name, op in with_body:
        examples = body_examples(op)
        assert examples, f"{name} has no example body"
        schema = {**op["requestBody"]["content"]["application/json"]["schema"], "components": document["components"]}
        for example in examples.values():
            assert example.get("summary"), f"{name}: an example without a summary"
            errors = [e.message for e in Draft202012Validator(schema).iter_errors(example["value"])]
            assert errors == [], f"{name}: {errors}"


def test_every_example_body_is_taken_by_the_routes_own_model() -> None:
    # The model also runs the checks a JSON schema cannot say (an SSN's shape, a PIN override's).
    from timerack_bridge.api.app import build_app

    app = build_app()
    checked = 0
    for route in [*app._static_routes, *app._dynamic_routes]:
        body = route.body_field
        if body is None:
            continue
        info: Any = body.field_info  # Powertools' Body: a FieldInfo with the OpenAPI examples
        for example in (info.openapi_examples or {}).values():
            TypeAdapter(info.annotation).validate_python(example["value"])
            checked += 1
    assert checked >= 12


def test_the_batch_example_passes_the_api_checks_of_the_body(api: ApiCall, document: dict[str, Any]) -> None:
    example = next(iter(body_examples(document["paths"]["/v1/timecard-batches"]["post"]).values()))
    reply = api("POST", "/v1/timecard-batches?dryRun=true", example["value"])
    # No agency holds the example's (made-up) client: the body is taken, the client is not found.
    assert reply.status == 403 or reply.status == 404, reply.json
