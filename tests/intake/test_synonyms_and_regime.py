"""The shipped value synonyms are data (connector/intake/synonyms.toml) checked against the model's vocabularies, and
regime detection is classification (connector/intake/classify.py).

Expected values are written by hand from the meaning of the words (WhatDoTheyKnow is a channel; "lapsed" is the
withdrawn-or-lapsed stage; EIR reg 2(1)(a)-(c): air and noise are environmental information; UK GDPR Art 15:
"my personal data" is a subject access request), not taken from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector.errors import MappingError
from connector.intake.classify import detect_regime
from connector.intake.normalize import normalize_frame
from connector.intake.source_mapping import SYNONYMS_FILE, load_synonyms, parse_mapping
from connector.intake.sources import ROW, RawSource


def test_shipped_synonyms_load_and_map_onto_the_model_values() -> None:
    synonyms = load_synonyms()
    assert synonyms.lookup("channel")["what do they know"] == "whatdotheyknow"
    assert synonyms.lookup("stage")["lapsed"] == "withdrawn_or_lapsed"
    assert synonyms.lookup("regime")["eir (scotland)"] == "eisr"
    assert synonyms.lookup("outcome")["section 12"] == "refused_cost"
    assert synonyms.lookup("requester_type")["member of the public"] == "member_of_public"
    assert SYNONYMS_FILE.name == "synonyms.toml" and SYNONYMS_FILE.parent.name == "intake"  # package data


def test_a_broken_synonym_file_names_file_line_key_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.toml"
    path.write_text('# words\n[stage]\n"new" = "received"\n"opened" = "opened_up"\n\n[chanel]\n"web" = "web_form"\n')
    with pytest.raises(MappingError) as caught:
        load_synonyms(path)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}:4: 'stage.opened': not a known value; fix: use one of 'received'")
    assert lines[1] == f"{path}:6: 'chanel': unknown key; fix: check the spelling against the docs or remove it"
    assert "opened_up" not in str(caught.value)  # the shared format never echoes a value


def test_a_synonym_from_the_data_file_normalises_a_register_cell() -> None:
    """'Lapsed' (not a model value, not in the register's own value map) reaches the frame as the model's stage."""
    mapping = parse_mapping(
        {"columns": {"reference": "Ref", "received_at": "Received", "request_text": "Text", "stage": "Status"}},
        "<test mapping>",
    )
    raw = RawSource(
        name="t",
        frame=pd.DataFrame(
            {
                "Ref": ["A1", "A2"],
                "Received": ["2025-03-03", "2025-03-04"],
                "Text": ["Copies of the bus contract", "Budget papers"],
                "Status": ["Lapsed", "WDTK"],
                ROW: [2, 3],
            }
        ),
    )
    result = normalize_frame(raw, mapping)
    assert result.frame["stage"].tolist() == ["withdrawn_or_lapsed"]
    assert [(r.row, r.field) for r in result.rejects] == [(3, "stage")]
    assert "add it under [values.stage] in <test mapping>" in result.rejects[0].reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Please send me copies of my personal data held by housing", "sar"),
        ("Noise complaints about the night club on the high street, 2024", "eir"),
        ("Air quality readings at the school gates", "eir"),
        ("How much did the council spend on agency staff last year?", None),
    ],
)
def test_regime_detection_lives_in_classification(text: str, expected: str | None) -> None:
    assert detect_regime(text) == expected
