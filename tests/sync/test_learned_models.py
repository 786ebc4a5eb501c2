"""`foi-sync model evaluate / train` over real HTTP: a history with a known signal beats the baseline, noise is refused.

The closed cases are written to the sandbox first (as a migration would), then the commands read them back from
the CRM. Expected figures are computed here from the generating rule, not by the code under test:

* every case is received and answered between September and mid-December 2025, when the only UK bank holiday is
  Scotland's St Andrew's Day substitute (1 December, a non-working day for FOIA everywhere: s.10(6)), so working
  days to respond are the weekdays this file counts itself, less that one;
* signal: days = BASE[service area] + 3 x questions + noise in {-1, 0, +1}; the best possible error is the noise's
  (2/3 of a day on average), the baseline (median per service area) cannot see the questions;
* noise: days drawn uniformly from 5..35 whatever the case says: nothing to learn, so the model is refused;
* the baseline's error is recomputed here from the same held-back split (the most recent 20% by date received).
"""

from __future__ import annotations

import json
import random
import re
import statistics
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sync_helpers import INCIDENT_MAPPING, make_case

from connector import odata
from connector.cli import cli
from connector.config import IntakeSource
from connector.paths import MAPPINGS_DIR
from connector.sync.job import run_migrate, run_sync
from connector.sync.learning import usable_models

LONDON = ZoneInfo("Europe/London")
BASE = {"Highways": 8, "Planning": 14, "Housing": 5, "Finance": 10}
TOPICS = ["budgets", "staffing", "contracts", "complaints", "vehicles", "software", "training", "buildings"]
N = 240


#: FOIA s.10(6): a working day excludes a bank holiday in ANY part of the UK. Between September and mid-December
#: 2025 there is one: Monday 1 December, St Andrew's Day (substitute), Scotland.
HOLIDAYS = {date(2025, 12, 1)}


def add_weekdays(start: date, n: int) -> date:
    d = start
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in HOLIDAYS:
            n -= 1
    return d


def _text(area: str, questions: int, rng: random.Random) -> str:
    words = rng.sample(TOPICS, k=4)
    asks = " ".join(
        f"How much was spent on {w} by {area.lower()} in {2019 + q}?" for q, w in enumerate(words[:questions])
    )
    filler = ". ".join(f"I am interested in {w}" for w in words)
    return (asks + " " if asks else "") + filler + ". Please reply by email."


def _history(signal: bool, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    first = date(2025, 9, 1)
    weekdays = [first + timedelta(days=i) for i in range(45) if (first + timedelta(days=i)).weekday() < 5]
    rows = []
    for i in range(N):
        area = rng.choice(sorted(BASE))
        questions = rng.randint(0, 4)
        days = BASE[area] + 3 * questions + rng.choice([-1, 0, 1]) if signal else rng.randint(5, 35)
        received = weekdays[i * len(weekdays) // N]
        rows.append(
            {
                "reference": f"FOI/2025/{i:04d}",
                "area": area,
                "questions": questions,
                "days": days,
                "received": received,
                "responded": add_weekdays(received, days),
                "text": _text(area, questions, rng),
            }
        )
    return rows


def _push(settings: Any, client: Any, rows: list[dict[str, Any]]) -> None:
    cases = [
        make_case(
            i,
            reference=r["reference"],
            received_at=datetime.combine(r["received"], time(10, 0), LONDON),
            responded_at=datetime.combine(r["responded"], time(15, 0), LONDON),
            stage="closed",
            outcome="granted_in_full",
            service_area=r["area"],
            assigned_team=None,
            subject=f"Spending question {i}",
            request_text=r["text"],
        )
        for i, r in enumerate(rows)
    ]
    report = run_migrate(settings, Path("."), None, client=client, cases=cases)
    assert report.exit_code == 0, report.errors
    assert client.count("incidents") == N


def _baseline_mae(rows: list[dict[str, Any]]) -> float:
    ordered = sorted(rows, key=lambda r: (r["received"], r["reference"]))
    n_test = round(len(ordered) * 0.2)
    train, test = ordered[:-n_test], ordered[-n_test:]
    medians = {a: statistics.median(r["days"] for r in train if r["area"] == a) for a in BASE}
    return sum(abs(medians[r["area"]] - r["days"]) for r in test) / len(test)


def _config(tmp_path: Path, sandbox: Any, settings: Any, register: Path | None = None) -> Path:
    path = tmp_path / "foi-sync.toml"
    source = (
        f'[[intake.sources]]\nname = "register"\nkind = "csv"\npath = "{register}"\n'
        f'mapping = "{MAPPINGS_DIR / "source-sample-register.toml"}"\n'
        if register
        else ""
    )
    path.write_text(
        f'[dataverse]\nurl = "{sandbox.url}"\nauthority_host = "{sandbox.https_url}"\nca_bundle = "{sandbox.ca_bundle}"\n'
        f'[sync]\ntarget_mapping = "{INCIDENT_MAPPING}"\nstate_path = "{settings.sync.state_path}"\n'
        f'[intake]\nrejects_dir = "{tmp_path / "rejects"}"\n'
        f'rules = "{MAPPINGS_DIR / "routing-rules.toml"}"\n{source}'
        f'[report]\nstore_path = "{settings.report.store_path}"\nout_dir = "{tmp_path / "reports"}"\n'
        f'[learn]\nmodel_dir = "{tmp_path / "models"}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_a_known_signal_beats_the_baseline_and_the_grade_states_the_estimate(
    sandbox: Any, sync_settings: Any, provisioned: Any, tmp_path: Path, runner: CliRunner
) -> None:
    rows = _history(signal=True, seed=14)
    _push(sync_settings, provisioned, rows)
    config = _config(tmp_path, sandbox, sync_settings)

    res = runner.invoke(cli, ["--config", str(config), "model", "evaluate", "--kind", "time", "--json"])
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)["time_to_respond"]
    assert meta["usable"] is True, meta["reason"]
    assert meta["held_back"] == round(N * 0.2) and meta["trained_on"] == N - round(N * 0.2)
    baseline = _baseline_mae(rows)
    assert meta["metrics"]["mae_baseline"] == pytest.approx(baseline, abs=0.01)
    assert baseline > 3.0  # the questions move the days by up to 12: a median per area cannot follow them
    # The generating rule's own error is the noise's, 2/3 of a day on average; a linear model gets close to it.
    assert meta["metrics"]["mae_model"] < 0.5 * baseline
    assert meta["metrics"]["mae_model"] < 2 / 3 + 1.0
    assert not (tmp_path / "models").exists()  # evaluate alone saves nothing

    res = runner.invoke(cli, ["--config", str(config), "model", "train", "--kind", "time"])
    assert res.exit_code == 0, res.output
    assert "time to respond model: USABLE" in res.output
    saved = json.loads((tmp_path / "models" / "time-to-respond.json").read_text(encoding="utf-8"))
    assert saved["meta"]["format"] == "foi-sync-model" and saved["meta"]["format_version"] == 1
    assert saved["meta"]["fitted_on"] == N and saved["meta"]["trained_at"].startswith(str(date.today().year))
    res = runner.invoke(cli, ["--config", str(config), "model", "show", "--kind", "time"])
    assert res.exit_code == 0 and "mean absolute error on 48 held-back cases" in res.output

    # The scheduled job grades a new Planning request with 4 questions: the rule says 14 + 3 x 4 = 26 working days,
    # more than the 20 a FOIA request has, and the creation note on the case states it.
    register = tmp_path / "new.csv"
    received = (date.today() - timedelta(days=1)).strftime("%d/%m/%Y")
    asks = " ".join(f"How much was spent on {w} by planning in {2019 + q}?" for q, w in enumerate(TOPICS[:4]))
    register.write_text(
        "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
        "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
        f"Exemptions Applied,Officer\nFOI/2026/0900,{received},09:00,Freedom of Information,Email,Pat Example,"
        f'pat@example.org,,,,,Member of public,Spending,"{asks}",Planning,Open,,,,\n',
        encoding="utf-8",
    )
    sync_settings.intake.sources = [
        IntakeSource(name="new", kind="csv", path=str(register), mapping=MAPPINGS_DIR / "source-sample-register.toml")
    ]
    sync_settings.learn.model_dir = tmp_path / "models"
    report = run_sync(sync_settings, client=provisioned)
    assert report.exit_code == 0, report.errors
    assert report.counts["time_model_used"] == 1
    case = next(
        iter(provisioned.query("incidents", select=["incidentid"], filter=odata.eq("foi_reference", "FOI-2026-0900")))
    )
    notes = provisioned.query(
        "annotations",
        select=["subject", "notetext"],
        filter=odata.eq("_objectid_value", odata.Guid(case["incidentid"])),
    )
    created = next(n["notetext"] for n in notes if n["subject"].startswith("FOI audit: case created"))
    found = re.search(r"similar requests to Planning took about (\d+) working days \(learned from 240 closed", created)
    assert found, created
    assert abs(int(found.group(1)) - 26) <= 1
    assert "more than the" in created  # 26 > the working days left on a 20-day FOIA clock


def test_pure_noise_is_refused(
    sandbox: Any, sync_settings: Any, provisioned: Any, tmp_path: Path, runner: CliRunner
) -> None:
    rows = _history(signal=False, seed=7)
    _push(sync_settings, provisioned, rows)
    config = _config(tmp_path, sandbox, sync_settings)
    res = runner.invoke(cli, ["--config", str(config), "model", "train", "--kind", "time", "--json"])
    assert res.exit_code == 1, res.output
    meta = json.loads(res.output)["time_to_respond"]
    assert meta["usable"] is False
    assert meta["reason"].startswith("does not beat the baseline")
    assert meta["metrics"]["mae_baseline"] == pytest.approx(_baseline_mae(rows), abs=0.01)
    # Saved, but marked not usable: the scheduled job's grade leaves it out.
    saved = json.loads((tmp_path / "models" / "time-to-respond.json").read_text(encoding="utf-8"))
    assert saved["meta"]["usable"] is False
    sync_settings.learn.model_dir = tmp_path / "models"
    _router, timer, warnings = usable_models(sync_settings)
    assert timer is None and warnings == []


ROUTED = {
    # service area -> words no routing rule knows (mappings/routing-rules.toml has no leisure or library rule)
    "Leisure Services": ["swimming", "gym", "sports hall", "leisure centre", "squash courts"],
    "Libraries": ["library", "books", "borrowing", "e-books", "reading room"],
}


def test_the_routing_model_is_used_where_it_beats_the_rules_with_its_confidence_on_the_case(
    sandbox: Any, sync_settings: Any, provisioned: Any, tmp_path: Path, runner: CliRunner
) -> None:
    rng = random.Random(3)
    first = date(2025, 9, 1)
    cases = []
    for i in range(100):
        area = sorted(ROUTED)[i % 2]
        words = rng.sample(ROUTED[area], k=3)
        cases.append(
            make_case(
                i,
                reference=f"FOI/2025/{i:04d}",
                received_at=datetime.combine(first + timedelta(days=i % 60), time(10, 0), LONDON),
                service_area=area,
                assigned_team=None,
                subject=f"Question {i}",
                request_text=f"Please tell me about the {words[0]}, the {words[1]} and the {words[2]} this year.",
            )
        )
    report = run_migrate(sync_settings, Path("."), None, client=provisioned, cases=cases)
    assert report.exit_code == 0, report.errors
    config = _config(tmp_path, sandbox, sync_settings)
    res = runner.invoke(cli, ["--config", str(config), "model", "train", "--kind", "routing", "--json"])
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output)["routing"]
    # No rule matches any of these requests: the rules route none of the 20 held-back cases; the model, which has
    # seen each area's words 40 times, routes them all.
    assert meta["metrics"] == {"accuracy_rules": 0.0, "accuracy_with_model": 1.0}
    assert meta["usable"] is True and meta["held_back"] == 20

    register = tmp_path / "new.csv"
    received = (date.today() - timedelta(days=1)).strftime("%d/%m/%Y")
    register.write_text(
        "Ref No,Date Received,Time Received,Request Type,Received Via,Requester Name,Email,Address,Town,Postcode,"
        "Organisation,Requester Type,Subject,Request Details,Department,Status,Date Responded,Outcome,"
        f"Exemptions Applied,Officer\nFOI/2026/0950,{received},09:00,Freedom of Information,Email,Pat Example,"
        'pat@example.org,,,,,Member of public,Leisure figures,"Under the FOI Act please provide the number of swimming lessons and gym memberships sold in 2024.",,Open,,,,\n',
        encoding="utf-8",
    )
    sync_settings.intake.sources = [
        IntakeSource(name="new", kind="csv", path=str(register), mapping=MAPPINGS_DIR / "source-sample-register.toml")
    ]
    sync_settings.intake.rules = MAPPINGS_DIR / "routing-rules.toml"
    sync_settings.learn.model_dir = tmp_path / "models"
    report = run_sync(sync_settings, client=provisioned)
    assert report.exit_code == 0, report.errors
    assert report.counts["routing_model_used"] == 1
    row = next(
        iter(
            provisioned.query(
                "incidents", select=["incidentid", "foi_servicearea"], filter=odata.eq("foi_reference", "FOI-2026-0950")
            )
        )
    )
    assert row["foi_servicearea"] == "Leisure Services"
    notes = provisioned.query(
        "annotations", select=["subject", "notetext"], filter=odata.eq("_objectid_value", odata.Guid(row["incidentid"]))
    )
    routing = next(n for n in notes if n["subject"] == "FOI audit: routing - model")["notetext"]
    found = re.search(r"routed to Leisure Services by the learned routing model, confidence (0\.\d\d)", routing)
    assert found, routing
    assert 0.5 <= float(found.group(1)) <= 1.0
