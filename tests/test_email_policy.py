"""One email policy: intake's vectorised check and the FoiCase model accept exactly the same addresses."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.intake.normalize import _EMAIL, _emails
from connector.model import Requester, is_valid_email

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
