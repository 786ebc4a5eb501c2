"""Hostile and broken sources: each becomes reject lines naming the file and the fix, never a traceback.

Expected values are written by hand from the bytes each test writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.config import IntakeSource
from connector.errors import FoiSyncError
from connector.intake import read_source, run_intake

HEADER = "Ref,Received,Type,Name,Email,Address,Postcode,Subject,Request,Dept"


def _row(ref: str, request: str = "Please send the 2024 figures.", name: str = "Jo Example") -> str:
    return f'{ref},03/03/2025,FOI,{name},jo@example.org,1 Mill Lane,EX1 2AB,Figures,"{request}",Env Svcs'


def _csv(tmp_path: Path, name: str, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def _read(settings: Any, path: Path, mapping: Path) -> Any:
    return read_source(IntakeSource(name=path.stem, kind="csv", path=str(path), mapping=mapping), settings)


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("cp1252", b""),
    ],
)
def test_every_supported_encoding_reads_the_same_cases(
    settings: Any, register_mapping: Path, tmp_path: Path, encoding: str, bom: bytes
) -> None:
    text = HEADER + "\n" + _row("T/1", "Costs in £ for the café") + "\n" + _row("T/2") + "\n"
    path = tmp_path / f"reg-{encoding}-{len(bom)}.csv"
    path.write_bytes(bom + text.encode(encoding))
    result = _read(settings, path, register_mapping)
    assert result.rejects == []
    assert [c.reference for c in result.cases] == ["T/1", "T/2"]
    assert result.cases[0].request_text == "Costs in £ for the café"


def test_any_mix_of_line_endings_is_read(settings: Any, register_mapping: Path, tmp_path: Path) -> None:
    raw = HEADER + "\r\n" + _row("T/1") + "\n" + _row("T/2") + "\r" + _row("T/3") + "\r\n"
    path = tmp_path / "mixed.csv"
    path.write_bytes(raw.encode())
    result = _read(settings, path, register_mapping)
    assert [c.reference for c in result.cases] == ["T/1", "T/2", "T/3"], result.rejects


def test_a_megabyte_field_in_the_header_scan_and_an_oversized_request_are_one_reject(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    big = "x" * (1024 * 1024)
    text = HEADER + "\n" + _row("T/1") + "\n" + _row("T/2", big) + "\n" + _row("T/3") + "\n"
    result = _read(settings, _csv(tmp_path, "big.csv", text), register_mapping)
    assert [c.reference for c in result.cases] == ["T/1", "T/3"]
    assert [(r.row, r.field) for r in result.rejects] == [(3, "request_text")]
    assert "100,000" in result.rejects[0].reason


def test_a_cell_over_the_field_maximum_rejects_its_row(settings: Any, register_mapping: Path, tmp_path: Path) -> None:
    from connector.intake.sources import MAX_FIELD_CHARS

    text = HEADER + ",Notes\n" + _row("T/1") + ",ok\n" + _row("T/2") + "," + "n" * (MAX_FIELD_CHARS + 1) + "\n"
    text += _row("T/3") + ",ok\n"
    mapping = tmp_path / "m.toml"
    mapping.write_text(register_mapping.read_text() + '\nassigned_officer = "Notes"\n'.replace("\n", "\n", 1))
    # Notes is mapped (as the officer) so the huge cell is read, not skipped.
    body = register_mapping.read_text().replace(
        'service_area = "Dept"', 'service_area = "Dept"\nassigned_officer = "Notes"'
    )
    mapping.write_text(body)
    result = _read(settings, _csv(tmp_path, "huge.csv", text), mapping)
    assert [c.reference for c in result.cases] == ["T/1", "T/3"]
    assert len(result.rejects) == 1 and result.rejects[0].row == 3
    assert f"{MAX_FIELD_CHARS:,}" in result.rejects[0].reason


def test_a_ragged_row_is_one_reject_line_and_later_rows_keep_their_line_numbers(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    text = HEADER + "\n" + _row("T/1") + "\n" + _row("T/2") + ",extra,cells\n" + _row("T/3") + "\n" + _row("T/3") + "\n"
    result = _read(settings, _csv(tmp_path, "ragged.csv", text), register_mapping)
    assert [c.reference for c in result.cases] == ["T/1", "T/3"]
    by_row = {r.row: r for r in result.rejects}
    assert sorted(by_row) == [3, 5]
    assert "12 cells where the header has 10" in by_row[3].reason
    assert "duplicates row 4" in by_row[5].reason  # line numbers after the skipped line are still file lines


def test_a_duplicated_header_is_refused_naming_the_file_and_columns(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    text = HEADER + ",Email\n" + _row("T/1") + ",other@example.org\n"
    path = _csv(tmp_path, "dup.csv", text)
    with pytest.raises(FoiSyncError) as info:
        _read(settings, path, register_mapping)
    message = str(info.value)
    assert "dup.csv" in message and "'Email' (column 5)" in message and "'Email' (column 11)" in message
    assert "fix" in message


def test_control_characters_are_stripped_and_a_reference_holding_one_is_refused(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    text = HEADER + "\n" + _row("T/1", "Line one\x00\r\nline two\x07", name="Jo\x00 Ex\tample") + "\n"
    text += _row("T/\x002") + "\n"
    result = _read(settings, _csv(tmp_path, "ctl.csv", text), register_mapping)
    assert [c.reference for c in result.cases] == ["T/1"]
    case = result.cases[0]
    assert case.request_text == "Line one\nline two"
    assert case.requester.name == "Jo Ex Ample" or case.requester.name == "Jo Ex ample"
    assert [(r.row, r.field) for r in result.rejects] == [(3, "reference")]
    assert "control character" in result.rejects[0].reason


def _folder_settings(settings: Any, tmp_path: Path, files: dict[str, bytes]) -> Any:
    from connector.paths import MAPPINGS_DIR

    folder = tmp_path / "forms"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    settings.intake.sources = [
        IntakeSource(name="forms", kind="json-folder", path=str(folder), mapping=MAPPINGS_DIR / "source-webforms.toml")
    ]
    return settings


def test_hostile_json_files_are_one_reject_each_and_the_good_form_lands(settings: Any, tmp_path: Path) -> None:
    from connector.intake.sources import MAX_JSON_BYTES

    sample = sorted((Path(__file__).resolve().parents[2] / "samples" / "webforms").glob("*.json"))[0]
    good = json.loads(sample.read_text(encoding="utf-8"))
    files = {
        "a-good.json": json.dumps(good).encode(),
        "b-good-utf16.json": b"\xff\xfe" + json.dumps({**good, "submission_id": "u16"}).encode("utf-16-le"),
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
        "big.json": b'{"x": "' + b"y" * (MAX_JSON_BYTES + 10) + b'"}',
        "dupkey.json": b'{"a": 1, "a": 2}',
        "broken.json": b'{"a": ',
        "binary.json": bytes(range(256)),
    }
    result = run_intake(_folder_settings(settings, tmp_path, files))
    per_file = {r.source.split("/", 1)[1]: r.reason for r in result.rejects}
    assert sorted(per_file) == ["big.json", "binary.json", "broken.json", "deep.json", "dupkey.json"]
    assert len(result.rejects) == 5
    assert "nested deeper" in per_file["deep.json"]
    assert f"{MAX_JSON_BYTES:,}" in per_file["big.json"]
    assert "appears twice" in per_file["dupkey.json"]
    assert len(result.cases) == 2 and result.failed_sources == []


def test_an_unreadable_source_is_one_reject_and_the_others_still_land(
    settings: Any, register_mapping: Path, tmp_path: Path
) -> None:
    good = _csv(tmp_path, "good.csv", HEADER + "\n" + _row("T/1") + "\n")
    unclosed = _csv(tmp_path, "unclosed.csv", HEADER + "\n" + _row("T/2") + '\nT/3,"never closed\n' * 3)
    empty = _csv(tmp_path, "empty.csv", "")
    xlsx = tmp_path / "corrupt.xlsx"
    xlsx.write_bytes(b"PK\x03\x04 not really a zip")
    settings.intake.sources = [
        IntakeSource(name="unclosed", kind="csv", path=str(unclosed), mapping=register_mapping),
        IntakeSource(name="empty", kind="csv", path=str(empty), mapping=register_mapping),
        IntakeSource(name="corrupt", kind="xlsx", path=str(xlsx), mapping=register_mapping),
        IntakeSource(name="good", kind="csv", path=str(good), mapping=register_mapping),
    ]
    result = run_intake(settings)
    assert [c.reference for c in result.cases] == ["T/1"]
    assert sorted(result.failed_sources) == ["corrupt", "empty", "unclosed"]
    lines = [r for r in result.rejects if r.row is None]
    assert sorted(r.source for r in lines) == ["corrupt", "empty", "unclosed"]
    for r in lines:
        assert "fix" in r.reason, r


#: Text beginning with these opens as a formula in Excel, LibreOffice and Google Sheets (OWASP "CSV Injection").
HOSTILE_STARTS = ("=1+2", "+SUM(A1)", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR")


def _rejects_csv(path: Path) -> list[list[str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_rejects_csv_cells_never_open_as_formulas(tmp_path: Path) -> None:
    from connector.intake.rejects import Reject, write_rejects

    rejects = [Reject(text, i, text, text) for i, text in enumerate(HOSTILE_STARTS, start=2)]
    rejects.append(Reject("register", 9, "received_at", "received_at: '31/02/2025' is not a date; fix the cell"))
    rows = _rejects_csv(write_rejects(rejects, tmp_path / "rejects.csv"))
    assert rows[0] == ["source", "row", "field", "reason"]
    for (source, row, field, reason), text, line in zip(rows[1:7], HOSTILE_STARTS, range(2, 8), strict=True):
        assert source == field == reason == "'" + text  # shown as the text it is, with OWASP's leading quote
        assert row == str(line)
    assert rows[-1] == ["register", "9", "received_at", "received_at: '31/02/2025' is not a date; fix the cell"]


def test_hostile_source_names_reach_rejects_csv_as_text(settings: Any, register_mapping: Path, tmp_path: Path) -> None:
    """A real intake of files whose names (hence the reject's source cell) begin with each trigger, one bad row each."""
    from connector.intake.rejects import write_rejects

    rejects = []
    for i, start in enumerate(HOSTILE_STARTS):
        text = HEADER + "\n" + _row(f"T/{i}") + "\n" + _row(f"B/{i}") + ",extra,cells\n"
        result = _read(settings, _csv(tmp_path, f"{start}.csv", text), register_mapping)
        assert [c.reference for c in result.cases] == [f"T/{i}"]
        rejects += result.rejects
    rows = _rejects_csv(write_rejects(rejects, tmp_path / "rejects.csv"))[1:]
    assert len(rows) == len(HOSTILE_STARTS)  # one line per broken row
    assert sorted(r[0] for r in rows) == sorted("'" + s for s in HOSTILE_STARTS)
    assert all(r[1] == "3" and "12 cells where the header has 10" in r[3] for r in rows)
    triggers = ("=", "+", "-", "@", "\t", "\r")
    assert not any(cell.startswith(triggers) for r in rows for cell in r)
