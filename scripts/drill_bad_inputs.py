#!/usr/bin/env python3
"""Reliability drill: a corpus of bad inputs, where each bad input gets a clear error and everything else goes through.

    python3 scripts/drill_bad_inputs.py              # the whole corpus against a fresh sandbox (~20 s)

The corpus:

* register rows: malformed dates, missing requester, missing reference, unknown request type, a bad email, 10 KB
  of text for the 200-character case title and for 100-character and 500-character columns, two references that
  differ only in characters Dataverse cannot put in a key, and hostile but legal values that must land exactly:
  ``x' or 1 eq 1`` as a reference, ``O'Brien`` in a reference, a name and an email (all used in keys and filters),
  and unicode (accents, Welsh, CJK, Hebrew, emoji, combining marks) in names and request text;
* mapping files: target and source mappings with a TOML syntax error, an unknown key, a wrong type, a missing
  table, a source column that does not exist, and ``foi-sync migrate`` run with a broken source mapping;
* letter templates: a syntax error, an undefined variable, and an attempt to reach Python internals;
* the hostile-file corpus (tests/corpus/corpus_files.py): healthy, hostile and broken files side by side (every
  encoding and line-ending mix, 1 MB and 10 MB cells, ragged rows, duplicated headers, unclosed quotes, empty,
  binary and damaged files, deeply nested and oversized JSON, NUL bytes, formula-shaped text, references with
  quotes and spaces) run through ONE ``foi-sync sync`` against a fresh sandbox. Every healthy record must be in the
  CRM equal to expected values computed from the raw rows (not by the connector), every broken file or row must
  have exactly one reject line, and no traceback, NUL or formula may reach a report or the CRM.

A row is mixed into 200 good rows and the register is migrated into a fresh sandbox. Each bad input must end
in a reject or error that names where it is (file, row or line, field or key) and says what to do, without
echoing the requester's personal data; each hostile-but-legal value must land in the CRM exactly; every good
row must land unchanged: equal to foi-sync's own plan, and on the key columns (reference, key, dates, regime, stage,
requester email) equal to the oracle of scripts/drill_oracle.py, computed from the raw rows without the connector, as
are the hostile-but-legal rows. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "corpus"))

import drill_oracle
from bench_migration import (
    ROOT,
    SOURCE_MAPPING,
    TODAY,
    compare_crm,
    expected_plan,
    machine,
    provision,
    register_rows,
    settings_for,
    write_register,
)

TARGET_MAPPING = ROOT / "mappings" / "target-incident.toml"
UNICODE_NAME = "Zoë-Ŵyn Ó Séaghdha"
UNICODE_TEXT = "Café ümlaut, Ŵ ŷ, 李小龍, עברית, emoji 🦊📄, combining e\u0301 - please send the 2025 figures."
TEN_KB = 10 * 1024


@dataclass
class Item:
    """One bad input and what must happen to it."""

    name: str
    kind: str  # "row" | "mapping" | "template" | "corpus"
    expect: str  # "reject" | "lands" | "truncated" | "error"
    override: dict[str, str] = field(default_factory=dict)
    outcome: str = ""
    message: str = ""
    passed: bool = False
    has_fix: bool = False


#: The shipped target mapping's choice value for stage 'invalid' (mappings/target-incident.toml).
INVALID_STAGE = 100000012


def row_items() -> list[Item]:
    long = "Exemption wording " * (TEN_KB // 18 + 1)
    return [
        Item("impossible date 31/02/2025", "row", "reject", {"Date Received": "31/02/2025"}),
        Item("date in words", "row", "reject", {"Date Received": "the Tuesday after Easter"}),
        # Not a reject since triage: a FOI request with no name is a case at stage 'invalid' (FOIA s.8(1)(b)) with an
        # advice-and-assistance reply drafted (docs/triage.md); it must land, never be dropped.
        Item(
            "missing requester name",
            "row",
            "invalid",
            {
                "Ref No": "FOI/2025/NONAME",
                "Request Type": "FOI",
                "Requester Name": "",
                "Status": "Open",
                "Date Responded": "",
                "Outcome": "",
                "Exemptions Applied": "",
            },
        ),
        Item("missing reference", "row", "reject", {"Ref No": ""}),
        Item("unknown request type", "row", "reject", {"Request Type": "Misc"}),
        Item("email that is not an address", "row", "reject", {"Email": "o'brien at example dot org"}),
        Item("10 KB in a 500-character column (exemptions)", "row", "reject", {"Exemptions Applied": long[:TEN_KB]}),
        Item("10 KB reference for a 100-character key", "row", "reject", {"Ref No": "FOI/2025/" + "9" * TEN_KB}),
        Item(
            "10 KB subject for the 200-character title",
            "row",
            "truncated",
            {"Ref No": "FOI/2025/LONGT", "Subject": "S" * TEN_KB},
        ),
        Item(
            "10 KB of request text (memo column)",
            "row",
            "lands",
            {"Ref No": "FOI/2025/LONGR", "Request Details": "R" * TEN_KB},
        ),
        Item("key-unsafe reference FOI/2025/K1?&", "row", "lands", {"Ref No": "FOI/2025/K1?&"}),
        Item("same key-safe reference as the row before", "row", "reject", {"Ref No": "FOI/2025/K1&?"}),
        Item("reference x' or 1 eq 1", "row", "lands", {"Ref No": "x' or 1 eq 1"}),
        Item(
            "O'Brien in reference, name and email",
            "row",
            "lands",
            {"Ref No": "FOI/2025/O'Brien", "Requester Name": "Siobhan O'Brien", "Email": "o'brien@example.org"},
        ),
        Item(
            "unicode in name and request text",
            "row",
            "lands",
            {"Ref No": "FOI/2025/UNI", "Requester Name": UNICODE_NAME, "Request Details": UNICODE_TEXT},
        ),
    ]


def _pii(row: dict[str, str]) -> list[str]:
    return [v for v in (row.get("Requester Name"), row.get("Email")) if v and len(v) > 3]


FIX_WORDS = ("fix", "add", "fill", "correct", "use ", "make", "set ", "remove", "write", "check", "give", "rename")


def _clear(message: str, located: bool = False) -> bool:
    """Names a place (file, row, line, field, key or column; ``located`` when the reject record itself carries the
    row and field) and says what is wrong."""
    low = message.lower()
    where = located or any(w in low for w in ("row", "line", "field", "column", ".toml", "template", "key", "'"))
    return len(message) > 15 and where


def _has_fix(message: str) -> bool:
    """Says what to do about it (the team rule; reported, not required by the drill)."""
    return any(w in message.lower() for w in FIX_WORDS)


def drill_rows(work: Path, good: int, verbose: bool) -> tuple[list[Item], dict[str, Any]]:
    """The register corpus, migrated into a fresh sandbox."""
    from connector import odata
    from connector.dataverse import DataverseClient
    from connector.sandbox.server import SandboxOptions, SandboxServer
    from connector.sync.job import run_migrate
    from connector.sync.mapping import load_target_mapping
    from connector.sync.migration import read_migration_source
    from connector.sync.state import StateStore

    items = row_items()
    rows = register_rows(good, seed=31)
    template = dict(rows[0])
    bad_rows = []
    for k, item in enumerate(items):
        r = dict(template)
        r["Ref No"] = f"FOI/2025/BAD{k:02d}"
        r["Requester Name"], r["Email"] = f"Bad Row{k:02d} Person", f"bad.row{k:02d}@example.org"
        r.update(item.override)
        bad_rows.append(r)
    all_rows = rows[1:] + bad_rows
    register = write_register(work / "register.csv", all_rows)
    line_of = {id(item): 2 + len(rows) - 1 + k for k, item in enumerate(items)}  # header is line 1

    with SandboxServer(SandboxOptions(port=0)) as sb:
        settings = settings_for(sb, work / "run")
        provision(settings)
        report = run_migrate(settings, register, SOURCE_MAPPING, today=TODAY)
        source = read_migration_source(settings, register, SOURCE_MAPPING)
        mapping = load_target_mapping(settings.sync.target_mapping)
        plan = expected_plan(settings, source.cases, grades=getattr(source, "grades", {}) or {})
        check = compare_crm(sb.rows, plan, mapping)
        # The oracle: good rows and the hostile values that must land, from the raw register (others are refused,
        # or land changed on purpose: the truncated title, the invalid request).
        must_land = [r["Ref No"] for r in all_rows[: len(rows) - 1]]
        must_land += [raw["Ref No"] for item, raw in zip(items, bad_rows, strict=True) if item.expect == "lands"]
        oracle = drill_oracle.check(register, sb.api_url, sb.issue_token, only=must_land, allow_extra=True)
        with StateStore(settings.sync.state_path) as state:
            dead = state.dead_letters(None)
        crm = {str(r.get("foi_sourcereference")): r for r in sb.rows("incident")}
        contacts = sb.rows("contact")
        client = DataverseClient.from_settings(settings.dataverse)
        try:
            # The hostile values as filters: each must match exactly its own record, never "everything".
            filters = {
                "x' or 1 eq 1": client.count("incidents", filter=odata.eq("foi_sourcereference", "X' OR 1 EQ 1")),
                "O'Brien": client.count("contacts", filter=odata.eq("lastname", "O'Brien")),
                "o'brien@example.org": client.count(
                    "contacts", filter=odata.eq("emailaddress1", "o'brien@example.org")
                ),
            }
        finally:
            client.close()

    rejects = {r.row: r for r in source.rejects}
    for item, raw in zip(items, bad_rows, strict=True):
        line = line_of[id(item)]
        ref = raw["Ref No"].strip().upper()
        reject = rejects.get(line)
        dl = next((d for d in dead if str(d.origin.get("reference", "")).upper() == ref), None)
        if item.expect == "reject":
            if reject is not None:
                item.outcome = f"intake reject: row {reject.row}, field {reject.field}"
                item.message = reject.reason
                item.passed = reject.row == line and bool(reject.field) and _clear(reject.reason, located=True)
            elif dl is not None:
                # The dead letter must stay open until this row lands: an operator lists and retries open ones.
                item.outcome = f"plan reject -> dead letter {dl.error_code} ({dl.status})"
                item.message = dl.message
                item.passed = _clear(dl.message, located=True) and ref not in crm and dl.status == "open"
            else:
                item.outcome = "NOT rejected"
                item.passed = False
            item.passed = item.passed and not any(p in item.message for p in _pii(raw))
        elif item.expect == "lands":
            got = crm.get(ref)
            item.outcome = "landed" if got else "NOT in the CRM"
            ok = got is not None
            if got is not None and "Request Details" in item.override:
                ok = ok and got.get("foi_requesttext") == item.override["Request Details"]
            if got is not None and "Requester Name" in item.override:
                last = item.override["Requester Name"].split()[-1]
                ok = ok and any(c.get("lastname") == last for c in contacts)
                if item.override.get("Email"):
                    ok = ok and any(c.get("emailaddress1") == item.override["Email"] for c in contacts)
            item.message = "exact" if ok else "differs from the source"
            item.passed = ok
        elif item.expect == "invalid":
            got = crm.get(ref)
            item.outcome = f"landed, stage {got.get('foi_stage')}" if got else "NOT in the CRM"
            item.message = "invalid request kept as a case (FOIA s.8(1)(b)): advice and assistance"
            item.passed = got is not None and got.get("foi_stage") == INVALID_STAGE
        elif item.expect == "truncated":
            got = crm.get(ref)
            title = str((got or {}).get("title") or "")
            item.outcome = f"landed, title {len(title)} characters" if got else "NOT in the CRM"
            item.message = 'target mapping says on_too_long = "truncate" for title (shipped policy)'
            item.passed = got is not None and len(title) == 200 and title.endswith("S" * 20)
    good_ok = check["lost_cases"] == 0 and check["duplicated_cases"] == 0 and check["mismatched_fields"] == 0
    good_ok = good_ok and oracle["ok"]
    summary = {
        "good_rows": good - 1,
        "crm_cases": len(crm),
        "check": check,
        "oracle": oracle,
        "filters_match_exactly_one": filters,
        "filters_ok": all(v == 1 for v in filters.values()),
        "run_exit_code": report.exit_code,
        "good_rows_all_landed": good_ok,
    }
    return items, summary


def _broken_copy(src: Path, dest: Path, old: str, new: str) -> Path:
    text = src.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {src}"
    dest.write_text(text.replace(old, new, 1), encoding="utf-8")
    return dest


def drill_mappings(work: Path, register: Path) -> list[Item]:
    """Broken mapping files: each refused with a message naming the file and the key or line."""
    from connector.config import IntakeSource
    from connector.errors import FoiSyncError
    from connector.intake.pipeline import normalize_source
    from connector.sync.mapping import load_target_mapping

    d = work / "mappings"
    d.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    targets = [
        ("target mapping: TOML syntax error", 'table = "incident"', 'table = "incident'),
        (
            "target mapping: unknown key (typo 'colum')",
            'column = "foi_sourcereference"',
            'colum = "foi_sourcereference"',
        ),
        ("target mapping: choice value of the wrong type", "foia = 100000000", 'foia = "one hundred million"'),
        ("target mapping: no table", 'table = "incident"', "# table removed"),
    ]
    for k, (name, old, new) in enumerate(targets):
        path = _broken_copy(TARGET_MAPPING, d / f"target-broken-{k}.toml", old, new)
        item = Item(name, "mapping", "error")
        try:
            load_target_mapping(path)
            item.outcome = "accepted (NOT refused)"
        except FoiSyncError as exc:
            item.outcome = type(exc).__name__
            item.message = str(exc)
            item.passed = path.name in item.message and _clear(item.message)
        items.append(item)
    sources = [
        ("source mapping: TOML syntax error", 'encoding = "auto"', "encoding = auto"),
        (
            "source mapping: column that is not in the register",
            'reference = "Ref No"',
            'reference = "Reference Number"',
        ),
        ("source mapping: unknown key", "[columns]", "[colums]"),
    ]
    from connector.config import load_settings

    settings = load_settings(None, base_dir=ROOT)
    for k, (name, old, new) in enumerate(sources):
        path = _broken_copy(SOURCE_MAPPING, d / f"source-broken-{k}.toml", old, new)
        item = Item(name, "mapping", "error")
        try:
            normalize_source(IntakeSource(name="bad", kind="csv", path=str(register), mapping=path), settings)
            item.outcome = "accepted (NOT refused)"
        except FoiSyncError as exc:
            item.outcome = type(exc).__name__
            item.message = str(exc)
            item.passed = path.name in item.message and _clear(item.message)
        items.append(item)
    # The command line, pointed at a reachable, provisioned CRM: exit code 2 and the message on stderr, no traceback.
    from drill_kill9 import migrate_env

    from connector.sandbox.server import SandboxOptions, SandboxServer

    broken = d / "source-broken-1.toml"
    item = Item("foi-sync migrate with a broken source mapping", "mapping", "error")
    cmd = [sys.executable, "-m", "connector", "migrate", str(register), "--source-mapping", str(broken), "--dry-run"]
    with SandboxServer(SandboxOptions(port=0)) as sb:
        provision(settings_for(sb, work / "cli"))
        proc = subprocess.run(cmd, cwd=work, env=migrate_env(sb, work / "cli"), capture_output=True, timeout=120)
    err = proc.stderr.decode("utf-8", "replace").strip()
    item.outcome = f"exit code {proc.returncode}"
    item.message = err.splitlines()[-1] if err else ""
    item.passed = proc.returncode == 2 and "Traceback" not in err and broken.name in err and _clear(err)
    items.append(item)
    return items


def drill_templates(work: Path) -> list[Item]:
    """Broken letter templates: each refused with the template and line; the other letters still render."""
    from connector.errors import FoiSyncError
    from connector.letters import render_letter
    from connector.model import FoiCase

    d = work / "templates"
    d.mkdir(parents=True, exist_ok=True)
    ack = (ROOT / "templates" / "acknowledgement_foia.html.j2").read_text(encoding="utf-8")
    assert "{% block body %}" in ack, "the shipped acknowledgement template changed shape; update the drill"
    broken = {
        "template: syntax error (unclosed block)": ack + "\n{% if case.reference %}\n",
        "template: undefined variable": ack.replace("{% block body %}", "{% block body %}{{ case.no_such_field }}", 1),
        "template: reaches for Python internals": ack.replace(
            "{% block body %}", "{% block body %}{{ ''.__class__.__mro__[1].__subclasses__() }}", 1
        ),
    }
    from connector.config import load_settings

    case_foi, case_eir = _letter_cases(FoiCase)
    items = []
    for name, text in broken.items():
        folder = d / name.split(":")[1].strip().split()[0]
        folder.mkdir(exist_ok=True)
        (folder / "acknowledgement_foia.html.j2").write_text(text, encoding="utf-8")
        settings = load_settings(None, base_dir=ROOT, letters={"template_dir": str(folder)})
        item = Item(name, "template", "error")
        try:
            render_letter("acknowledgement", case_foi, settings)
            item.outcome = "rendered (NOT refused)"
        except FoiSyncError as exc:
            item.outcome = type(exc).__name__
            item.message = str(exc)
            item.passed = "acknowledgement_foia" in item.message and _clear(item.message)
            if "syntax" in name:
                item.passed = item.passed and "line" in item.message
        # Everything else goes through: the EIR acknowledgement (another template) renders with the same folder.
        try:
            other = render_letter("acknowledgement", case_eir, settings)
            item.passed = item.passed and bool(other.html)
        except FoiSyncError as exc:
            item.passed = False
            item.message += f" | the other letter failed too: {exc}"
        items.append(item)
    return items


def drill_corpus(work: Path) -> tuple[list[Item], dict[str, Any]]:
    """The hostile-file corpus through one ``foi-sync sync``; one Item per broken file/row plus the healthy check."""
    import sync_check

    run = sync_check.run_corpus(work / "corpus")
    figures = sync_check.check(run)
    corpus = run["corpus"]
    problems = figures["problems"]
    items = []
    for name, why in corpus.broken_files.items():
        item = Item(f"corpus file {name} ({why})", "corpus", "reject")
        mine = [p for p in problems if f"broken file {name}:" in p or f"source {name}" in p]
        item.outcome = "one reject line" if not mine else "; ".join(mine)
        item.passed = not mine
        reasons = [r["reason"] for r in run["rejects"] if r["source"] == name]
        item.message = reasons[0] if reasons else ""
        items.append(item)
    for (source, line), why in corpus.broken_rows.items():
        item = Item(f"corpus row {source} line {line} ({why})", "corpus", "reject")
        mine = [p for p in problems if f"broken row {source} line {line} " in p]
        item.outcome = "one reject line" if not mine else "; ".join(mine)
        item.passed = not mine
        reasons = [
            r["reason"] for r in run["rejects"] if r["source"] == source and (line == -1 or r["row"] == str(line))
        ]
        item.message = reasons[0] if reasons else ""
        items.append(item)
    healthy = Item(f"corpus: {figures['healthy']} healthy records equal to the source", "corpus", "lands")
    mismatched = [p for p in problems if "differs" in p or "is not in the CRM" in p]
    healthy.passed = figures["healthy_equal"] == figures["healthy"] and not mismatched
    healthy.outcome = f"{figures['healthy_equal']}/{figures['healthy']} equal"
    healthy.message = "; ".join(mismatched[:3]) or "exact"
    items.append(healthy)
    other = [p for p in problems if p not in mismatched and not p.startswith(("broken file", "broken row"))]
    clean = Item(
        "corpus: no traceback, NUL or formula in a report or the CRM; failed sources named, exit 1", "corpus", "lands"
    )
    clean.passed = not other
    clean.outcome = f"exit {figures['exit_code']}, {figures['formula_cells']} formula cells, {figures['neutralised_cells']} neutralised"
    clean.message = "; ".join(other[:3]) or "clean"
    items.append(clean)
    return items, figures


def _letter_cases(foi_case: Any) -> tuple[Any, Any]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    base = {
        "reference": "FOI/2025/0142",
        "regime": "foia",
        "channel": "email",
        "received_at": datetime(2025, 11, 3, 10, 0, tzinfo=ZoneInfo("Europe/London")),
        "requester": {"name": "Jo Bloggs", "email": "jo@example.org"},
        "subject": "Potholes",
        "request_text": "How many potholes?",
    }
    eir = {**base, "reference": "EIR/2025/0031", "regime": "eir"}
    return foi_case.model_validate(base), foi_case.model_validate(eir)


def run(good: int = 200, verbose: bool = True, workdir: Path | None = None, corpus: bool = True) -> dict[str, Any]:
    """The whole drill; ``corpus=False`` leaves out the file corpus (tests/intake/test_corpus_sync.py runs it)."""
    say = print if verbose else (lambda *a, **k: None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="foi-drill-bad-") as tmp:
        work = Path(workdir or tmp)
        rows, summary = drill_rows(work, good, verbose)
        maps = drill_mappings(work, work / "register.csv")
        temps = drill_templates(work)
        corpus_items, corpus_figures = drill_corpus(work) if corpus else ([], {})
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    items = rows + maps + temps + corpus_items
    summary["corpus"] = {k: v for k, v in corpus_figures.items() if k != "problems"} or None
    for it in items:
        it.has_fix = _has_fix(it.message) if it.expect in ("reject", "error") else True
    for it in items:
        hint = "" if it.has_fix else "  (message names the problem but not the fix)"
        say(f"{'ok  ' if it.passed else 'FAIL'} [{it.kind}] {it.name}: {it.outcome}{hint}")
        if it.message:
            say(f"       {it.message[:300]}")
    c = summary["corpus"]
    if c:
        say(
            f"corpus: {c['healthy_equal']}/{c['healthy']} healthy records equal to the source, {c['broken_files']} "
            f"broken files and {c['broken_rows']} broken rows -> {c['reject_lines']} reject lines, "
            f"{c['formula_cells']} formula cells in {c['report_files']} report files, exit code {c['exit_code']}"
        )
    say(
        f"good rows: {summary['good_rows']} -> lost {summary['check']['lost_cases']}, duplicated "
        f"{summary['check']['duplicated_cases']}, mismatched fields {summary['check']['mismatched_fields']}; "
        f"hostile filters each matched exactly one record: {summary['filters_ok']} {summary['filters_match_exactly_one']}"
    )
    say(f"good and hostile-but-legal rows, {drill_oracle.describe(summary['oracle'])}")
    ok = all(it.passed for it in items) and summary["good_rows_all_landed"] and summary["filters_ok"]
    passed = sum(1 for it in items if it.passed)
    say(
        f"{'PASS' if ok else 'FAIL'}: {passed}/{len(items)} bad inputs handled as expected in {time.monotonic() - started:.1f} s"
    )
    return {
        "ok": ok,
        "items": [
            it.__dict__ | {"override": {k: (v[:60] + "...") if len(v) > 60 else v for k, v in it.override.items()}}
            for it in items
        ],
        "passed": passed,
        "total": len(items),
        "summary": summary,
        "corpus": summary["corpus"],
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--good", type=int, default=200, help="good rows the bad ones are mixed into")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    result = run(args.good)
    result["machine"] = machine()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
