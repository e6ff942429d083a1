"""The stream filter of the mailer: one pattern for the AWS event source mapping and the local poller.

AWS filters the table's stream with `ERROR_FILE_STREAM_FILTER` (FilterCriteria, as JSON); the local
runtime applies the same pattern with `matches_pattern`, which covers the exact-value subset used here.
"""

from __future__ import annotations

from typing import Any

ERROR_FILE_STREAM_FILTER: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {
        "NewImage": {
            "sk": {"S": ["BATCH"]},
            "status": {"S": ["completed"]},
            "hasErrors": {"BOOL": [True]},
        }
    },
}


def matches_pattern(record: dict[str, Any], pattern: dict[str, Any]) -> bool:
    """True when every key of the pattern is in the record with one of the listed values."""
    for name, expected in pattern.items():
        if name not in record:
            return False
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches_pattern(value, expected):
                return False
        elif value not in expected:
            return False
    return True


def is_error_file_record(record: dict[str, Any]) -> bool:
    """A stream record (Lambda event shape) of a completed batch with errors."""
    return matches_pattern(record, ERROR_FILE_STREAM_FILTER)
