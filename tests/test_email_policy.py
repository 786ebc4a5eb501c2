"""One email policy: intake's vectorised check and the FoiCase model accept exactly the same addresses."""

from __future__ import annotations

import pandas as pd
import pytest
from email_validator import validate_email
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.intake.normalize import _EMAIL, _emails
from connector.model import PLAIN_EMAIL, Requester, is_valid_email, normalise_email

# Decided per RFC 5322 / RFC 6531 (internationalised addresses are valid; requests from them are valid requests).
CASES = [
    ("sam@example.org", True),
    ("jö@example.org", True),  # RFC 6531 local part: was refused by intake, accepted by the model
    ("j@exämple.org", True),  # internationalised domain name
    ("o'brien+foi@council.gov.uk", True),
    ("a..b@example.org", False),
    (".a@example.org", False),
    ("a@example", False),  # no dot in the domain
    ("a@b.test", False),  # special-use domain
    ("someone@localhost", False),
    ('"quoted"@example.org', False),
    ("no-at-sign.example.org", False),
]


def _intake_accepts(address: str) -> bool:
    _, invalid = _emails(pd.Series([address], dtype=object))
    return not bool(invalid[0])


def _model_accepts(address: str) -> bool:
    try:
        Requester(name="Sam Example", email=address)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(("address", "valid"), CASES)
def test_intake_and_model_agree(address: str, valid: bool) -> None:
    assert is_valid_email(address) is valid
    assert _intake_accepts(address) is valid
    assert _model_accepts(address) is valid


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_EMAIL, fullmatch=True))
def test_the_intake_fast_path_accepts_nothing_the_policy_refuses(address: str) -> None:
    assert is_valid_email(address), address


@settings(max_examples=300, deadline=None)
@given(st.from_regex(PLAIN_EMAIL, fullmatch=True))
def test_the_model_fast_path_normalises_as_email_validator_does(address: str) -> None:
    """The model skips email-validator for plain ASCII addresses; its answer must be the library's own."""
    if len(address) > 254:  # the fast path leaves these to the library, which refuses them
        assert not is_valid_email(address)
        return
    assert normalise_email(address) == validate_email(address, check_deliverability=False).normalized


@pytest.mark.parametrize(
    "address", ["Sam.Example@Council.GOV.UK", "o'brien+foi@EXAMPLE.org", "a" * 64 + "@" + "b" * 63 + ".org"]
)
def test_mixed_case_addresses_normalise_as_email_validator_does(address: str) -> None:
    assert normalise_email(address) == validate_email(address, check_deliverability=False).normalized


def test_an_address_over_254_characters_is_refused() -> None:
    address = "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".org"
    assert len(address) > 254 and PLAIN_EMAIL.fullmatch(address)
    assert not is_valid_email(address)
