from datetime import date

import pytest

from timerack_bridge.domain.pin import PinError, default_pin, effective_pin, ssn_last_four, validate_pin_override


def test_article_example_april_seventh() -> None:
    # Given the article's first example: April 7 and SSN 111-11-2345
    # Then the PIN is the day without a leading zero followed by the last four
    assert default_pin(date(1990, 4, 7), ssn_last_four("111-11-2345")) == "72345"


def test_article_example_december_twelfth() -> None:
    assert default_pin(date(1985, 12, 12), ssn_last_four("123-45-6789")) == "126789"


def test_ssn_without_dashes_keeps_only_last_four() -> None:
    assert ssn_last_four("123456789") == "6789"


@pytest.mark.parametrize("ssn", ["12-345-6789", "1234567890", "abc-de-fghi", "", "123-45-678"])
def test_malformed_ssn_is_refused_without_echoing_it(ssn: str) -> None:
    with pytest.raises(PinError) as raised:
        ssn_last_four(ssn)
    assert ssn not in str(raised.value) or ssn == ""


def test_override_wins_over_default() -> None:
    assert effective_pin(date(1990, 4, 7), "2345", "654321") == "654321"


@pytest.mark.parametrize("override", ["12345", "1234567", "12a456", " 123456", "12345\n"])
def test_override_must_be_exactly_six_digits(override: str) -> None:
    with pytest.raises(PinError):
        validate_pin_override(override)


def test_no_usable_pin_without_ssn_or_override() -> None:
    assert effective_pin(date(1990, 4, 7), None, None) is None
    assert effective_pin(None, "2345", None) is None
