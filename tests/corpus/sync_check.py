"""Run the hostile-input corpus through one ``foi-sync sync`` against a fresh sandbox and check the outcome.

Shared by tests/intake/test_corpus_sync.py and scripts/drill_bad_inputs.py.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import corpus_files as corpus_build

REPO = Path(__file__).resolve().parents[2]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _env(sb: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOI_SYNC_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "FOI_SYNC_DATAVERSE__URL": sb.url,
            "FOI_SYNC_DATAVERSE__TENANT_ID": "sandbox",
            "FOI_SYNC_DATAVERSE__CLIENT_ID": sb.client_id,
            "FOI_SYNC_DATAVERSE__CLIENT_SECRET": sb.client_secret,
            "FOI_SYNC_DATAVERSE__AUTHORITY_HOST": sb.https_url,
            "FOI_SYNC_DATAVERSE__CA_BUNDLE": str(sb.ca_bundle),
        }
    )
    return env


def run_corpus(work: Path) -> dict[str, Any]:
    """Build the corpus, provision a fresh sandbox, run one ``foi-sync sync``; -> everything a check needs."""
    from connector.config import load_settings
    from connector.dataverse import DataverseClient
    from connector.sandbox.server import SandboxOptions, SandboxServer
    from connector.sync.mapping import load_target_mapping
    from connector.sync.provision import provision_schema

    corpus = corpus_build.build(work)
    with SandboxServer(SandboxOptions(port=0)) as sb:
        env = _env(sb)
        settings = load_settings(corpus.config)
        os.environ["FOI_SYNC_DATAVERSE__CLIENT_SECRET"] = sb.client_secret
        try:
            dv = load_settings(
                corpus.config,
                dataverse={
                    "url": sb.url,
                    "client_id": sb.client_id,
                    "tenant_id": "sandbox",
                    "authority_host": sb.https_url,
                    "ca_bundle": str(sb.ca_bundle),
                },
            ).dataverse
            client = DataverseClient.from_settings(dv)
            try:
                provision_schema(client, load_target_mapping(settings.sync.target_mapping))
            finally:
                client.close()
        finally:
            os.environ.pop("FOI_SYNC_DATAVERSE__CLIENT_SECRET", None)
        proc = subprocess.run(
            [sys.executable, "-m", "connector", "--config", str(corpus.config), "sync"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        tables = {t: sb.rows(t) for t in ("incident", "contact")}
    rejects: list[dict[str, str]] = []
    for path in sorted((work / "rejects").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rejects += list(csv.DictReader(fh))
    return {"corpus": corpus, "proc": proc, "tables": tables, "rejects": rejects, "reports": work / "reports"}


def check(run: dict[str, Any]) -> dict[str, Any]:
    """The must-show figures; ``problems`` lists every failed expectation (empty means the corpus passed)."""
    corpus, proc, tables, rejects = run["corpus"], run["proc"], run["tables"], run["rejects"]
    problems: list[str] = []
    out = proc.stdout + proc.stderr
    if "Traceback" in out:
        problems.append("a traceback was printed")
    # Healthy records: in the CRM, equal to the oracle.
    incidents = {str(r.get("foi_sourcereference")): r for r in tables["incident"]}
    contacts = {r.get("contactid"): r for r in tables["contact"]}
    equal = 0
    for exp in corpus.healthy:
        got = incidents.get(exp.reference)
        if got is None:
            problems.append(f"{exp.source}: {exp.reference!r} is not in the CRM")
            continue
        diff = {k: (v, got.get(k)) for k, v in exp.incident.items() if got.get(k) != v}
        contact = contacts.get(got.get("_customerid_value"))
        if exp.email and (contact or {}).get("emailaddress1") != exp.email:
            diff["requester email"] = (exp.email, (contact or {}).get("emailaddress1"))
        if diff:
            problems.append(f"{exp.source}: {exp.reference!r} differs: {diff}")
        else:
            equal += 1
    # Nothing else reached the CRM: a broken row is a reject line, not also a record.
    extra = sorted(set(incidents) - {exp.reference for exp in corpus.healthy})
    if extra:
        problems.append(f"{len(extra)} CRM records that are not healthy source rows: {extra[:5]}")
    # Broken files and rows: exactly one reject line each.
    by_source = Counter(r["source"] for r in rejects if not r["row"])
    by_row = Counter((r["source"], int(r["row"])) for r in rejects if r["row"])
    by_file = Counter(r["source"] for r in rejects)
    for name in corpus.broken_files:
        if by_source[name] != 1 or by_file[name] != 1:
            problems.append(f"broken file {name}: {by_file[name]} reject lines, expected exactly 1")
    for (source, line), why in corpus.broken_rows.items():
        n = by_file[source] if line == -1 else by_row[(source, line)]
        if n != 1:
            problems.append(f"broken row {source} line {line} ({why}): {n} reject lines, expected exactly 1")
    expected_lines = len(corpus.broken_files) + len(corpus.broken_rows)
    if len(rejects) != expected_lines:
        unexpected = [r for r in rejects if r["source"] not in corpus.broken_files]
        problems.append(f"{len(rejects)} reject lines, expected {expected_lines}: {unexpected[:5]}")
    # The rejects file is opened in a spreadsheet too: none of its cells may run as a formula.
    risky = [c for r in rejects for c in r.values() if c and c.startswith(TRIGGERS) and not _number(c)]
    if risky:
        problems.append(f"{len(risky)} rejects-file cells would run as formulas: {risky[:3]}")
    # Failed sources are named in the log/output and make the exit code 1.
    if proc.returncode != 1:
        problems.append(f"exit code {proc.returncode}, expected 1 (sources failed)")
    for name in corpus.broken_files:
        if f"'{name}'" not in out:
            problems.append(f"the run's output does not name the failed source {name}")
    # No NUL anywhere in the CRM; the hostile text is there exactly (the CRM is not a spreadsheet).
    crm_text = [v for rows in tables.values() for r in rows for v in r.values() if isinstance(v, str)]
    if any("\x00" in v for v in crm_text):
        problems.append("a NUL reached the CRM")
    titles = [str(r.get("title")) for r in tables["incident"]]
    for f in corpus.formulas:
        if not any(t.endswith(" " + f) for t in titles):
            problems.append(f"hostile text {f!r} did not reach the CRM exactly")
    # Reports: no NUL, no cell a spreadsheet would run.
    report_files = sorted(p for p in run["reports"].rglob("*") if p.is_file())
    formula_cells = neutralised = 0
    for path in report_files:
        data = path.read_bytes()
        if b"\x00" in data and path.suffix != ".xlsx":
            problems.append(f"a NUL reached {path.name}")
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.reader(fh):
                    formula_cells += sum(1 for c in row if c.startswith(TRIGGERS) and not _number(c))
                    neutralised += sum(1 for c in row if c.startswith("'") and c[1:2] in TRIGGERS)
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    xml = z.read(name)
                    if b"\x00" in xml or b"&#0;" in xml or b"&#x0;" in xml:
                        problems.append(f"a NUL reached {path.name} ({name})")
                    if name.startswith("xl/worksheets/") and b"<f>" in xml:
                        formula_cells += 1
                    # Text cells (inline or shared strings) must be neutralised too, not only kept out of <f>.
                    if name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml":
                        for text in _xlsx_texts(xml):
                            if text.startswith(TRIGGERS) and not _number(text):
                                formula_cells += 1
                            elif text.startswith("'") and text[1:2] in TRIGGERS:
                                neutralised += 1
    if formula_cells:
        problems.append(f"{formula_cells} report cells would run as formulas")
    return {
        "healthy": len(corpus.healthy),
        "healthy_equal": equal,
        "broken_files": len(corpus.broken_files),
        "broken_rows": len(corpus.broken_rows),
        "reject_lines": len(rejects),
        "report_files": len(report_files),
        "formula_cells": formula_cells,
        "neutralised_cells": neutralised,
        "exit_code": proc.returncode,
        "problems": problems,
    }


def _xlsx_texts(xml: bytes) -> list[str]:
    """The text of every <t> element (inline strings in a sheet, or the shared-string table)."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)  # noqa: S314 - our own workbook, just written by the run under test
    return [el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "t"]


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
