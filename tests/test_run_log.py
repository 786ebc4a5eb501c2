"""The scheduled job's log as an operator reads it (``journalctl -o cat | jq .``): under ``--log-format json`` every
stderr line of a failing run is one JSON object, the final error included; nothing else is printed; the
``run finished`` line carries the process's real exit code, level error and the errors as codes and counts.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from test_failures import REGISTER, REGISTER_MAPPING, foi_sync, write_config

REQUESTER_COLUMNS = ("Requester Name", "Email", "Address", "Postcode", "Subject", "Request Details")


def requester_data() -> set[str]:
    """Names, emails, addresses and request text of the sample register, read from the raw file."""
    lines = REGISTER.read_text(encoding="utf-8-sig").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Ref No,"))
    values: set[str] = set()
    for row in csv.DictReader(lines[header:]):
        values.update(v for k in REQUESTER_COLUMNS if len(v := (row.get(k) or "").strip()) >= 6)
    return values


def json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing logged"
    return [json.loads(line) for line in lines]  # raises on the first line that is not one JSON object


def test_failing_run_logs_only_json_with_its_real_exit_code(sandbox: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, sandbox.url, sandbox.https_url, str(sandbox.ca_bundle))
    # A second source whose file is missing: the run goes on with the register and finishes with exit 1.
    with config.open("a", encoding="utf-8") as f:
        f.write(
            f'[[intake.sources]]\nname = "old-log"\nkind = "csv"\npath = "missing.csv"\nmapping = "{REGISTER_MAPPING}"\n'
        )
    assert foi_sync(["--config", str(config), "mapping", "provision"], tmp_path, sandbox.client_secret).returncode == 0

    done = foi_sync(["--config", str(config), "--log-format", "json", "sync"], tmp_path, sandbox.client_secret)
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stdout == "", "the summary table is for a terminal; the scheduled job's output is its log"
    lines = json_lines(done.stderr)
    finished = [line for line in lines if line["msg"] == "run finished"]
    assert len(finished) == 1 and finished[0] is lines[-1]
    last = finished[0]
    assert last["exit_code"] == done.returncode == 1
    assert last["level"] == "error" and last["status"] == "finished-with-failures"
    assert {"code": "source_unreadable", "count": 1} in last["errors"]
    assert all(set(e) == {"code", "count"} and isinstance(e["count"], int) for e in last["errors"])
    assert last["counts"]["source_cases"] > 0  # the other source still landed
    text = done.stderr
    leaked = [v for v in requester_data() if v in text]
    assert not leaked, leaked[:5]
    assert not re.search(r"[\w.+-]+@example\.com", text)


def test_run_that_cannot_reach_the_crm_ends_with_a_json_error_line(sandbox: Any, tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "http://127.0.0.1:9", sandbox.https_url, str(sandbox.ca_bundle), scope=f"{sandbox.url}/.default"
    )
    done = foi_sync(["--config", str(config), "--log-format", "json", "sync"], tmp_path, sandbox.client_secret)
    assert done.returncode == 4
    assert done.stdout == ""
    lines = json_lines(done.stderr)
    finished = next(line for line in lines if line["msg"] == "run finished")
    assert finished["exit_code"] == 4 and finished["level"] == "error"
    assert [e["code"] for e in finished["errors"]] == ["TransportError"]  # the cause, not the wrapper
    final = lines[-1]
    assert final["level"] == "error" and final["exit_code"] == 4
    assert "dataverse.url" in final["msg"] and "Traceback" not in done.stderr


def test_bad_config_in_json_mode_is_one_json_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[dataverse]\nurl = "http://crm.example.org"\n', encoding="utf-8")
    done = foi_sync(["--config", str(bad), "--log-format", "json", "sync"], tmp_path, "x")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = json_lines(done.stderr)
    assert line["level"] == "error" and line["exit_code"] == 2 and "dataverse.url" in line["msg"]
