"""The hostile-input corpus: healthy, hostile-but-legal and broken source files side by side, and its oracle.

``build(folder)`` writes the files (the large ones are generated, never committed) plus a ``foi-sync.toml`` that
lists every file as its own intake source, and returns what must happen to each: the healthy rows' expected CRM
values, computed here from the raw rows by hand-written rules (never by the connector's normaliser), and the
broken files and rows that must each end as exactly one reject line.

Used by tests/intake/test_corpus_sync.py (one ``foi-sync sync`` against the sandbox) and
scripts/drill_bad_inputs.py (the drill's figure in BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MAPPING = HERE / "register.toml"
HEADER = ["Ref", "Received", "Type", "Name", "Email", "Address", "Postcode", "Subject", "Request", "Status"]
MB = 1024 * 1024

# ---------------------------------------------------------------------------------------------- the oracle
# Hand-written from docs/intake.md and the corpus mapping (register.toml), independently of connector code.
REGIME = {"FOI": "foia", "EIR": "eir", "SAR": "sar"}
STAGE = {"New": "received", "Open": "in_progress", "": "received"}
#: docs/intake.md, "Control characters": removed everywhere; tab/line breaks kept only in multi-line fields.
_REMOVED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Microsoft, "Define alternate keys" (plus '#'): replaced by '-' in the key column (docs/sync.md).
_KEY_UNSAFE = set("/<>*%&:\\?+#")
LONDON = ZoneInfo("Europe/London")


def _single_line(text: str) -> str:
    return " ".join(re.sub(r"[\t\n\r]", " ", _REMOVED.sub("", text)).split())


def _multi_line(text: str) -> str:
    return re.sub(r"\r\n?", "\n", _REMOVED.sub("", text)).strip()


def _key_safe(reference: str) -> str:
    return re.sub(r"\s+", " ", "".join("-" if c in _KEY_UNSAFE else c for c in reference.strip()))


def _utc(day_month_year_time: str) -> str:
    local = datetime.strptime(day_month_year_time, "%d/%m/%Y %H:%M").replace(tzinfo=LONDON)
    return local.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def _choices(field_name: str) -> dict[str, int]:
    data = tomllib.loads((REPO / "mappings" / "target-incident.toml").read_text(encoding="utf-8"))
    return {k: int(v) for k, v in data["fields"][field_name]["choices"].items()}


@dataclass
class Expected:
    """One healthy record as the CRM must hold it (incident columns, plus the requester's email on the contact)."""

    source: str
    reference: str
    incident: dict[str, Any]
    email: str | None


@dataclass
class Corpus:
    folder: Path
    config: Path
    healthy: list[Expected] = field(default_factory=list)
    #: source name -> why the whole file must be one reject line
    broken_files: dict[str, str] = field(default_factory=dict)
    #: (source name as in rejects, line) -> why that row must be one reject line
    broken_rows: dict[tuple[str, int], str] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
    #: hostile text that must reach the CRM exactly and the reports only neutralised
    formulas: list[str] = field(default_factory=list)


def expected_row(source: str, row: dict[str, str]) -> Expected:
    """The oracle for one healthy register row."""
    regime = _choices("regime")[REGIME[row["Type"].strip()]]
    stage = _choices("stage")[STAGE[row["Status"].strip()]]
    reference = row["Ref"].strip().upper()
    incident = {
        "foi_sourcereference": reference,
        "foi_reference": _key_safe(reference),
        "foi_receivedon": _utc(row["Received"].strip()),
        "foi_regime": regime,
        "foi_stage": stage,
        "title": f"{reference} {_single_line(row['Subject'])}",  # target-incident.toml: reference and subject
        "foi_requesttext": _multi_line(row["Request"]),
    }
    email = row["Email"].strip().lower() or None
    return Expected(source, reference, incident, email)


# -------------------------------------------------------------------------------------------- the files
FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "=1+2", "@SUM(A1:A2)", "+44 20 7946 0000", "-2+3"]


def _healthy_rows(prefix: str, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        rows.append(
            {
                "Ref": f"{prefix}/{i:03d}",
                "Received": f"{3 + i % 20:02d}/11/2026 {9 + i % 8:02d}:{(7 * i) % 60:02d}",
                "Type": ["FOI", "EIR", "SAR"][i % 3],
                "Name": f"Alex Tester{i}",
                "Email": f"Alex.Tester{i}@Example.org",
                "Address": f"{i} Mill Lane",
                "Postcode": "EX1 2AB",
                "Subject": f"Spending figures {prefix} {i}",
                "Request": f"Please send the {2020 + i % 5} spending figures for {prefix}.\nThank you.",
                "Status": ["New", "Open", ""][i % 3],
            }
        )
    return rows


def _hostile_rows() -> list[dict[str, str]]:
    """Legal but hostile: must land exactly (after the documented control-character rule)."""
    base = _healthy_rows("HOST", 1)[0]
    out = []
    for k, (ref, subject) in enumerate(
        [
            ("O'BRIEN X", "Quote then space in the reference"),
            ("INJ/1' or 1 eq 1", "Injection-shaped reference"),
            ("SPC/1 A B", "Spaces in the reference"),
            ("HOST/F1", FORMULAS[0]),
            ("HOST/F2", FORMULAS[1]),
            ("HOST/F3", FORMULAS[2]),
            ("HOST/F4", FORMULAS[3]),
            ("HOST/F5", FORMULAS[4]),
            # References that reach the reports (cases.csv, overdue lists) shaped like formulas.
            ("=HYPERLINK(1)", "Formula-shaped reference"),
            ("@REF/1", "At-sign reference"),
            ("-REF/2", "Minus reference"),
        ]
    ):
        out.append({**base, "Ref": ref, "Subject": subject, "Email": f"hostile{k}@example.org", "Name": f"Host Ile{k}"})
    # NUL and other control characters in the request text, name and subject: stripped, never sent.
    out.append(
        {
            **base,
            "Ref": "HOST/NUL",
            "Name": "Nul\x00 Person",
            "Email": "nul@example.org",
            "Subject": "Bell\x07 and NUL\x00 subject",
            "Request": "Text with a NUL\x00 and an escape\x1b[31m\r\nsecond line",
        }
    )
    return out


def _csv_text(rows: list[dict[str, str]], header: list[str] | None = None, eol: str = "\n") -> str:
    header = header or HEADER
    lines = [",".join(header)]
    for r in rows:
        lines.append(",".join(_quote(r.get(h, "")) for h in header))
    return eol.join(lines) + eol


def _quote(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def build(folder: Path) -> Corpus:
    """Write the corpus into ``folder`` and return what must happen to every file and row."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder=folder, config=folder / "foi-sync.toml", formulas=list(FORMULAS))

    def add(name: str, path: Path, kind: str = "csv", mapping: Path = MAPPING) -> None:
        corpus.sources.append({"name": name, "kind": kind, "path": str(path), "mapping": str(mapping)})

    def healthy(name: str, rows: list[dict[str, str]]) -> None:
        corpus.healthy += [expected_row(name, r) for r in rows]

    # 1. UTF-8, LF: healthy and hostile rows, plus broken rows (line numbers: header is line 1).
    rows = _healthy_rows("UTF8", 6) + _hostile_rows()
    broken = [
        ({**_healthy_rows("BAD", 1)[0], "Ref": "BAD/DATE", "Received": "31/02/2026 10:00"}, "impossible date"),
        ({**_healthy_rows("BAD", 1)[0], "Ref": "BAD/\x00CTL"}, "control character in the reference"),
        ({**_healthy_rows("BAD", 1)[0], "Ref": "BAD/BIG", "Request": "x" * MB}, "1 MB of request text"),
    ]
    text = _csv_text(rows + [r for r, _ in broken])
    # A ragged row (an unquoted comma shifted every later cell) after them.
    ragged = _healthy_rows("BAD", 1)[0] | {"Ref": "BAD/RAGGED"}
    text += ",".join(_quote(ragged[h]) for h in HEADER) + ",Smith, Jo\n"
    path = folder / "utf8.csv"
    path.write_bytes(text.encode("utf-8"))
    add("utf8", path)
    healthy("utf8", rows)
    first_bad = 2 + len(rows)
    for k, (_, why) in enumerate(broken):
        corpus.broken_rows[("utf8", first_bad + k)] = why
    corpus.broken_rows[("utf8", first_bad + len(broken))] = "ragged row (extra cells)"

    # 2-6. Every encoding and line-ending mix.
    variants = [
        ("bom-crlf", "BOM", lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode("utf-8")),
        ("utf16le", "U16L", lambda t: b"\xff\xfe" + t.encode("utf-16-le")),
        ("utf16be", "U16B", lambda t: b"\xfe\xff" + t.encode("utf-16-be")),
        ("cp1252", "WIN", lambda t: t.encode("cp1252")),
        ("mixed-endings", "MIX", None),
    ]
    for name, prefix, encode in variants:
        rows = _healthy_rows(prefix, 4)
        rows[0]["Request"] = "Costs in £ for the café – 2025"  # £, é and an en dash exist in Windows-1252
        path = folder / f"{name}.csv"
        if encode is None:
            lines = _csv_text(rows).split("\n")
            ends = ["\r\n", "\n", "\r", "\r\n", "\n"]
            data = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines[:-1]))
            path.write_bytes(data.encode("utf-8"))
        else:
            path.write_bytes(encode(_csv_text(rows)))
        add(name, path)
        healthy(name, rows)

    # 7. A 1 MB cell in an unmapped column within the header scan: the file reads, its rows land.
    rows = _healthy_rows("HEAD", 3)
    header = [*HEADER, "Notes"]
    rows[0]["Notes"] = "n" * MB
    path = folder / "big-head.csv"
    path.write_text(_csv_text(rows, header), encoding="utf-8")
    add("big-head", path)
    healthy("big-head", rows)

    # 8. A cell over the 10 MB maximum: that row is one reject line, the others land.
    rows = _healthy_rows("HUGE", 2)
    huge = _healthy_rows("HUGE", 3)[2] | {"Ref": "HUGE/BIG", "Request": "h" * (10 * MB + 1)}
    path = folder / "huge-cell.csv"
    path.write_text(_csv_text([rows[0], huge, rows[1]]), encoding="utf-8")
    add("huge-cell", path)
    healthy("huge-cell", rows)
    corpus.broken_rows[("huge-cell", 3)] = "cell over 10 MB"

    # 9-13. Files that cannot be read at all: one reject line each, naming the file.
    dup = folder / "dup-header.csv"
    dup.write_text(_csv_text(_healthy_rows("DUP", 2), [*HEADER, "Email"]), encoding="utf-8")
    unclosed = folder / "unclosed-quote.csv"
    unclosed.write_text(_csv_text(_healthy_rows("UNC", 2)) + 'UNC/9,"never closed\n' * 3, encoding="utf-8")
    empty = folder / "empty.csv"
    empty.write_bytes(b"")
    binary = folder / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    corrupt = folder / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    for name, path, kind, why in [
        ("dup-header", dup, "csv", "header names 'Email' twice"),
        ("unclosed-quote", unclosed, "csv", "quote never closed"),
        ("empty", empty, "csv", "empty file"),
        ("binary", binary, "csv", "not text"),
        ("corrupt-xlsx", corrupt, "xlsx", "damaged workbook"),
    ]:
        add(name, path, kind)
        corpus.broken_files[name] = why

    # 14. A web-form folder: two good forms (UTF-8 and UTF-16) among hostile files, one reject each.
    forms = folder / "webforms"
    forms.mkdir(exist_ok=True)
    good = {
        "submission_id": "WF-C-1",
        "submitted_at": "2026-11-19T10:05:00+00:00",
        "applicant": {"first_name": "Niamh", "last_name": "Bennett", "email": "Niamh.B@example.com"},
        "request": {
            "type": "Freedom of Information",
            "subject": "=cmd|' /C calc'!A0",
            "details": "Please send the priority gritting routes for winter 2026/27.",
        },
    }
    good2 = json.loads(json.dumps(good)) | {"submission_id": "WF-C-2", "submitted_at": "2026-11-20T11:00:00+00:00"}
    (forms / "a-good.json").write_text(json.dumps(good), encoding="utf-8")
    (forms / "b-good-utf16.json").write_bytes(b"\xff\xfe" + json.dumps(good2).encode("utf-16-le"))
    (forms / "deep.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    (forms / "big.json").write_bytes(b'{"x": "' + b"y" * (6 * MB) + b'"}')
    (forms / "dupkey.json").write_bytes(b'{"submission_id": "A", "submission_id": "B"}')
    (forms / "broken.json").write_bytes(b'{"submission_id": ')
    add("webforms", forms, "json-folder", REPO / "mappings" / "source-webforms.toml")
    for name in ("deep.json", "big.json", "dupkey.json", "broken.json"):
        corpus.broken_rows[(f"webforms/{name}", -1)] = name  # -1: the file's reject may name a line or none
    for form in (good, good2):
        ref = (
            "WEB-"
            + hashlib.sha1(f"webforms\x1f{form['submission_id']}".encode(), usedforsecurity=False)
            .hexdigest()[:10]
            .upper()
        )
        when = datetime.fromisoformat(form["submitted_at"]).astimezone(ZoneInfo("UTC"))
        incident = {
            "foi_sourcereference": ref,
            "foi_reference": ref,
            "foi_receivedon": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "foi_regime": _choices("regime")["foia"],
            "foi_stage": _choices("stage")["received"],
            "title": f"{ref} {form['request']['subject']}",
            "foi_requesttext": form["request"]["details"],
        }
        corpus.healthy.append(Expected("webforms", ref, incident, form["applicant"]["email"].lower()))
    corpus.formulas.append(good["request"]["subject"])

    _write_config(corpus)
    return corpus


def _write_config(corpus: Corpus) -> None:
    lines = [
        f"base_dir = {json.dumps(str(REPO))}",
        "",
        "[council]",
        'name = "Corpus Borough Council"',
        "",
        "[intake]",
        f"rejects_dir = {json.dumps(str(corpus.folder / 'rejects'))}",
        "",
    ]
    for s in corpus.sources:
        lines += ["[[intake.sources]]", *(f"{k} = {json.dumps(v)}" for k, v in s.items()), ""]
    work = corpus.folder
    lines += [
        "[sync]",
        f"state_path = {json.dumps(str(work / 'state.sqlite'))}",
        "",
        "[report]",
        f"out_dir = {json.dumps(str(work / 'reports'))}",
        f"store_path = {json.dumps(str(work / 'reporting.sqlite'))}",
        "",
    ]
    corpus.config.write_text("\n".join(lines), encoding="utf-8")
