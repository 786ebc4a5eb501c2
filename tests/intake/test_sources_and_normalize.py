"""Messy sources in, valid cases or one reject line per bad row out."""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.config import IntakeSource
from connector.errors import MappingError
from connector.intake import Reject, read_source
from connector.intake.source_mapping import load_source_mapping
from connector.model import Channel, Regime

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def _source(
    name: str, kind: str, path: Path | str, mapping: Path | None = None, query: str | None = None
) -> IntakeSource:
    return IntakeSource(name=name, kind=kind, path=str(path), mapping=mapping, query=query)


def test_messy_register_every_row_is_a_case_or_one_reject_line(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    result = read_source(_source("messy", "csv", FIXTURES / "register-messy.csv", register_mapping), settings)

    assert sorted(c.reference for c in result.cases) == ["T/001", "T/006", "T/007"]
    by_row = {r.row: r for r in result.rejects}
    assert sorted(by_row) == [5, 7, 8, 9, 10]  # file line numbers; header on line 3, blank line 6 skipped
    assert by_row[5].field == "received_at" and "'31/02/2025'" in by_row[5].reason
    assert by_row[7].field == "requester_name" and "missing" in by_row[7].reason
    assert by_row[8].field == "requester_email"
    assert by_row[9].field == "reference" and "duplicates row 4" in by_row[9].reason
    many = by_row[10]
    assert set(many.field.split(", ")) >= {"received_at", "regime", "requester_name", "request_text"}
    assert "'Misc' is not known" in many.reason and "[values.regime]" in many.reason
    assert result.rows_read == 8 and result.blank_rows == 1  # 9 data lines, one of them blank
    assert len(result.cases) + len(result.rejects) == result.rows_read

    # The rejects report: a header and one line per bad row, with no requester data in it.
    path = result.write_rejects(tmp_path / "rejects.csv")
    lines = list(csv.reader(path.open(encoding="utf-8")))
    assert lines[0] == ["source", "row", "field", "reason"]
    assert [int(x[1]) for x in lines[1:]] == [5, 7, 8, 9, 10]
    text = path.read_text(encoding="utf-8")
    for personal in ("Bob Example", "bob@example.org", "not-an-email", "Dan Example", "Erin", "carol@example.org"):
        assert personal not in text


def test_normalisation_of_names_postcodes_serial_dates_time_zones_and_regime(
    settings: Any, register_mapping: Path
) -> None:
    result = read_source(_source("messy", "csv", FIXTURES / "register-messy.csv", register_mapping), settings)
    cases = {c.reference: c for c in result.cases}

    frank = cases["T/006"]
    assert frank.requester.name == "Frank Example"  # SHOUTED name tidied
    assert frank.requester.postcode == "EX1 2AB"
    assert frank.received_date == date(2024, 4, 1)  # Excel serial 45383
    assert frank.regime is Regime.EIR  # blank type, environmental wording
    gina = cases["T/007"]
    assert gina.regime is Regime.SAR
    assert gina.received_at.isoformat() == "2025-04-03T23:30:00+00:00"
    assert gina.received_date == date(2025, 4, 4)  # 23:30 UTC in BST is the next London day
    alice = cases["T/001"]
    assert alice.received_at.isoformat() == "2025-04-01T09:00:00+00:00"  # 10:00 London (BST)
    assert alice.source_system == "test-register"
    # Deadlines come from the deadline engine and sit on the frame.
    row = result.frame.set_index("reference").loc["T/001"]
    assert row["due"].date() == date(2025, 5, 1)


@pytest.mark.parametrize("name,reference", [("register-cp1252.csv", "C/001"), ("register-bom.csv", "B/001")])
def test_windows_1252_and_utf8_bom_files(settings: Any, register_mapping: Path, name: str, reference: str) -> None:
    result = read_source(_source("enc", "csv", FIXTURES / name, register_mapping), settings)
    assert result.rejects == []
    (case,) = result.cases
    assert case.reference == reference
    assert case.requester.name == "Zoë Ñúñez"
    assert "£" in case.request_text and "café" in case.request_text


def test_xlsx_with_title_rows_blank_rows_and_excel_serial_dates(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Council FOI log"])
    ws.append([])
    ws.append(["Ref", "Received", "Type", "Name", "Email", "Address", "Postcode", "Subject", "Request", "Dept"])
    ws.append(["S/1", 45748, "FOI", "Pat Example", "pat@example.org", None, None, "Roads", "Road spend 2024?", None])
    ws.append(
        [
            "S/2",
            45748.625,
            "Env Info",
            "Quin Example",
            "quin@example.org",
            None,
            None,
            "Noise",
            "Noise complaints?",
            "Env Svcs",
        ]
    )
    ws.append([None] * 10)
    ws.append(
        ["S/3", datetime(2025, 4, 2, 9, 15), "FOI", "Ray Example", "ray@example.org", None, None, "Bins", "Bins?", None]
    )
    ws.append(["S/4", "not a date", "FOI", "Sam Example", "sam@example.org", None, None, "Bins", "Bins?", None])
    path = tmp_path / "register.xlsx"
    wb.save(path)

    result = read_source(_source("xlsx", "xlsx", path, register_mapping), settings)
    cases = {c.reference: c for c in result.cases}
    assert cases["S/1"].received_date == date(2025, 4, 1)
    assert cases["S/2"].received_at.isoformat() == "2025-04-01T14:00:00+00:00"  # 15:00 BST
    assert cases["S/2"].service_area == "Environmental Health"
    assert cases["S/3"].received_at.isoformat() == "2025-04-02T08:15:00+00:00"
    assert [(r.row, r.field) for r in result.rejects] == [(8, "received_at")]  # sheet row numbers
    assert result.blank_rows == 1


def test_whatdotheyknow_email(settings: Any) -> None:
    result = read_source(_source("mailbox", "eml-folder", FIXTURES / "mailbox"), settings)
    (case,) = result.cases
    assert case.channel is Channel.WHATDOTHEYKNOW
    assert case.wdtk_request_id == 987654
    assert case.subject == "Public toilets"
    assert (
        "Please use this email address" not in case.request_text
        and "published on the internet" not in case.request_text
    )
    assert case.request_text.startswith("Dear Example Borough Council")
    assert case.received_date == date(2025, 4, 1)  # 23:30 UTC on 31 March reached the server on 1 April (BST)
    assert case.source_id == "<foi-request-987654@whatdotheyknow.com>"
    again = read_source(_source("mailbox", "eml-folder", FIXTURES / "mailbox"), settings)
    assert again.cases[0].reference == case.reference  # stable reference: re-runs do not duplicate


def test_json_web_forms_drop_folder(settings: Any, tmp_path: Path) -> None:
    folder = tmp_path / "forms"
    shutil.copytree(FIXTURES / "webforms", folder)
    mapping = REPO / "mappings" / "source-webforms.toml"
    result = read_source(_source("web", "json-folder", folder, mapping), settings)
    (case,) = result.cases
    assert case.channel is Channel.WEB_FORM and case.regime is Regime.EIR
    assert case.reference.startswith("WEB-") and case.source_id == "T-1"
    assert case.requester.name == "Nia Example" and case.requester.postcode == "EX2 3CD"
    assert case.received_date == date(2026, 3, 29)
    rejects = {r.source: r for r in result.rejects}
    assert rejects["web/form-2.json"].field == "requester_name"
    assert "not valid JSON" in rejects["web/form-3.json"].reason


def test_sql_source_through_sqlalchemy(settings: Any, tmp_path: Path) -> None:
    sa = pytest.importorskip("sqlalchemy")
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("create table requests (ref text, received text, kind text, who text, mail text, body text)")
        )
        conn.execute(
            sa.text("insert into requests values (:a, :b, :c, :d, :e, :f)"),
            [
                {
                    "a": "Q-1",
                    "b": "2026-01-05 09:00:00",
                    "c": "FOI",
                    "d": "Uma Example",
                    "e": "uma@example.org",
                    "f": "Gritting routes?",
                },
                {"a": "Q-2", "b": "2026-01-06", "c": "FOI", "d": None, "e": "v@example.org", "f": "Grit bins?"},
            ],
        )
    engine.dispose()
    mapping = tmp_path / "source-sql.toml"
    mapping.write_text(
        '[source]\nquery = "select * from requests order by ref"\n'
        '[columns]\nreference = "ref"\nreceived_at = "received"\nregime = "kind"\nrequester_name = "who"\n'
        'requester_email = "mail"\nrequest_text = "body"\n',
        encoding="utf-8",
    )
    result = read_source(_source("crm", "sql", url, mapping), settings)
    assert [c.reference for c in result.cases] == ["Q-1"]
    assert result.cases[0].subject == "Gritting routes?"  # subject made from the text when none is mapped
    assert result.rejects == [Reject(source="crm", row=2, field="requester_name", reason=result.rejects[0].reason)]


def test_mapping_errors_name_file_key_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "source-bad.toml"
    bad.write_text(
        '[source]\nencodng = "auto"\n[columns]\nreference = "Ref"\nreceived_at = "Date"\nrequester_mail = "Email"\n'
        '[values.regime]\n"Env" = "environmental"\n',
        encoding="utf-8",
    )
    with pytest.raises(MappingError) as info:
        load_source_mapping(bad)
    message = str(info.value)
    # The one format (connector/tomlfile.py): FILE:LINE: 'KEY': PROBLEM; fix: FIX
    assert f"{bad}:2: 'source.encodng': unknown key; fix: did you mean 'encoding'?" in message
    assert f"{bad}:6: 'columns.requester_mail': unknown key; fix: did you mean 'requester_email'?" in message
    assert f"{bad}:8: 'values.regime.Env': not a known value; fix: use one of" in message

    missing_col = tmp_path / "source-col.toml"
    missing_col.write_text(
        '[source]\nheader_row = 3\n[columns]\nreference = "Ref"\nreceived_at = "Date In"\n', encoding="utf-8"
    )
    with pytest.raises(MappingError, match=r"columns.received_at: column 'Date In' is not in the header"):
        from connector.intake.sources import read_csv_source

        read_csv_source(FIXTURES / "register-messy.csv", load_source_mapping(missing_col), "x")


def test_deadlines_match_the_engine_row_by_row(settings: Any, register_mapping: Path) -> None:
    """Intake computes deadlines once per (regime, London day); the answers must equal the engine's own."""
    import numpy as np

    from connector.deadlines import DeadlineEngine

    result = read_source(_source("messy", "csv", FIXTURES / "register-messy.csv", register_mapping), settings)
    frame = result.frame
    direct = DeadlineEngine.from_settings(settings).compute_frame(frame[["regime", "received_at"]])
    for col in ("day0", "due", "extended_due"):
        ours, theirs = frame[col].to_numpy("datetime64[ns]"), direct[col].to_numpy("datetime64[ns]")
        assert ((ours == theirs) | (np.isnat(ours) & np.isnat(theirs))).all(), col
    assert set(frame["regime"]) == {"foia", "eir", "sar"}
