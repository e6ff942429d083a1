"""The stream filter of the mailer: one set of patterns for the AWS event source mapping and the local poller.

AWS filters the table's stream with `ERROR_FILE_STREAM_FILTERS` (FilterCriteria: one filter per
pattern, a record passes when it matches any); the local runtime applies the same patterns with
`matches_pattern`, which covers the subset used here (exact values, `{"exists": false}`).

A completed batch with errors passes when the error-file setting kept on it (`receiveErrorFile`, the
setting in force when it was sent) is on, or when it has none: a record stored before the setting was
kept, for which the mailer falls back to the client's current setting.
"""

from __future__ import annotations

from typing import Any

_COMPLETED_WITH_ERRORS: dict[str, Any] = {
    "sk": {"S": ["BATCH"]},
    "status": {"S": ["completed"]},
    "hasErrors": {"BOOL": [True]},
}

# The error file was asked for when the batch was sent.
ERROR_FILE_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"NewImage": {**_COMPLETED_WITH_ERRORS, "receiveErrorFile": {"BOOL": [True]}}},
}

# A batch stored before the setting was kept on batches (written by the previous version).
LEGACY_ERROR_FILE_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"NewImage": {**_COMPLETED_WITH_ERRORS, "receiveErrorFile": {"BOOL": [{"exists": False}]}}},
}

ERROR_FILE_STREAM_FILTERS: tuple[dict[str, Any], ...] = (ERROR_FILE_STREAM_FILTER, LEGACY_ERROR_FILE_STREAM_FILTER)


def matches_pattern(record: dict[str, Any], pattern: dict[str, Any]) -> bool:
    """True when every key of the pattern is in the record with one of the listed values
    (or, for `{"exists": false}`, is absent from it)."""
    for name, expected in pattern.items():
        if name not in record:
            absent_ok = matches_pattern({}, expected) if isinstance(expected, dict) else {"exists": False} in expected
            if not absent_ok:
                return False
            continue
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches_pattern(value, expected):
                return False
        elif not any(_matches_value(value, option) for option in expected):
            return False
    return True


def _matches_value(value: Any, option: Any) -> bool:
    if isinstance(option, dict):
        return option == {"exists": True}  # present; `{"exists": false}` matches only an absent key
    return bool(value == option)


def is_error_file_record(record: dict[str, Any]) -> bool:
    """A stream record (Lambda event shape) of a completed batch with errors whose error file is due."""
    return any(matches_pattern(record, pattern) for pattern in ERROR_FILE_STREAM_FILTERS)
