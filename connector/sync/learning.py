"""The learned models and the CRM: read the history they learn from, train them, hand the usable ones to intake.

The CRM is the truth: the history is read from the case table (regime, service area, channel, requester type,
title, request text, received and response dates, owning team), never from the register. The request text is read
for training only, in memory; it is not stored anywhere (the model keeps word weights, not texts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from connector.config import Settings
from connector.dataverse import DataverseClient
from connector.errors import ConfigError
from connector.intake.classify import load_rules
from connector.learn.model_file import ModelFile, load_model, save_model
from connector.learn.routing_model import RoutingModelJson
from connector.learn.time_model import TimeModel, closed_history
from connector.model import LONDON
from connector.sync.mapping import TargetMapping

log = logging.getLogger(__name__)

#: Case fields the models learn from (each read only when the target mapping maps it).
HISTORY_FIELDS = ("reference", "regime", "service_area", "channel", "requester_type", "received_at", "responded_at")


def _london_date(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(LONDON)
    return stamp.date()


def _rows(client: DataverseClient, mapping: TargetMapping) -> Iterator[dict[str, Any]]:
    cols = [mapping.primary_id, *mapping.alternate_key]
    for name in (*HISTORY_FIELDS, "title", "request_text", "assigned_team"):
        spec = mapping.fields.get(name)
        if spec is not None and spec.read_column not in cols:
            cols.append(spec.read_column)
    yield from client.query(mapping.entity_set, select=cols, page_size=5000)


def read_history(client: DataverseClient, mapping: TargetMapping) -> pd.DataFrame:
    """Every case in the CRM as a frame the models learn from (one row per case)."""
    teams: dict[str, str] = {}
    team = mapping.fields.get("assigned_team")
    if team is not None and team.type == "lookup" and team.target == "team":
        teams = {str(t["teamid"]).lower(): str(t["name"]) for t in client.query("teams", select=["teamid", "name"])}
    text_spec = mapping.fields.get("request_text")
    title_spec = mapping.fields.get("title")
    records = []
    for row in _rows(client, mapping):
        fields = mapping.from_crm(row)
        team_value = row.get(team.read_column) if team is not None else None
        records.append(
            {
                "reference": str(fields.get("reference") or row.get(mapping.alternate_key[0]) or ""),
                "regime": fields.get("regime"),
                "service_area": fields.get("service_area") or None,
                "channel": fields.get("channel"),
                "requester_type": fields.get("requester_type"),
                "subject": str(row.get(title_spec.column) or "") if title_spec else "",
                "request_text": str(row.get(text_spec.column) or "") if text_spec else "",
                "assigned_team": teams.get(str(team_value).lower()) if team_value else None,
                "received_date": _london_date(fields.get("received_at")),
                "responded_date": _london_date(fields.get("responded_at")),
            }
        )
    frame = pd.DataFrame.from_records(
        records,
        columns=[
            "reference",
            "regime",
            "service_area",
            "channel",
            "requester_type",
            "subject",
            "request_text",
            "assigned_team",
            "received_date",
            "responded_date",
        ],
    )
    return frame[frame["received_date"].notna()].reset_index(drop=True)


def models_at(settings: Settings) -> Path:
    """The model folder (``learn.model_dir``, else ``models`` beside the sync state file)."""
    return settings.learn.model_dir or settings.sync.state_path.parent / "models"


def train_from_history(history: pd.DataFrame, settings: Settings, kinds: tuple[str, ...]) -> dict[str, ModelFile]:
    """Train (and judge) the models of these kinds on a history frame; nothing is saved here."""
    from connector.deadlines import DeadlineEngine

    learn = settings.learn
    out: dict[str, ModelFile] = {}
    if "time_to_respond" in kinds:
        engine = DeadlineEngine.from_settings(settings)

        def working_days(regime: str, start: date, end: date) -> int:
            return int(engine.calendar(regime).working_days_between(start, end))

        closed = closed_history(history, working_days)
        model = TimeModel.train(closed, held_back=learn.held_back_fraction, min_cases=learn.min_training_cases)
        out["time_to_respond"] = model.to_file()
    if "routing" in kinds:
        rules_path = settings.intake.rules
        rules = load_rules(rules_path) if rules_path.is_file() else None
        router = RoutingModelJson.train(
            history,
            rules,
            min_per_class=learn.routing_min_per_class,
            held_back=learn.held_back_fraction,
            min_cases=learn.min_training_cases,
        )
        out["routing"] = router.to_file()
    return out


def train_and_save(
    client: DataverseClient, settings: Settings, mapping: TargetMapping, kinds: tuple[str, ...]
) -> dict[str, ModelFile]:
    """``foi-sync model train`` and the scheduled retraining: history from the CRM, judged, saved."""
    models = train_from_history(read_history(client, mapping), settings, kinds)
    for model in models.values():
        save_model(models_at(settings), model)
        log.info(
            "model trained",
            extra={
                "model": model.meta.kind,
                "usable": model.meta.usable,
                "trained_on": model.meta.trained_on,
                "held_back": model.meta.held_back,
                "metrics": model.meta.metrics,
            },
        )
    return models


def retrain_due(settings: Settings, now: datetime | None = None) -> bool:
    """True when either model file is missing or older than ``learn.retrain_days`` (0 turns retraining off)."""
    days = settings.learn.retrain_days
    if days <= 0:
        return False
    now = now or datetime.now(UTC)
    for kind in ("time_to_respond", "routing"):
        try:
            model = load_model(models_at(settings), kind)
        except ConfigError:
            return True  # a damaged file is replaced
        if model is None:
            return True
        trained = datetime.fromisoformat(model.meta.trained_at)
        if now - trained >= timedelta(days=days):
            return True
    return False


def usable_models(settings: Settings) -> tuple[RoutingModelJson | None, TimeModel | None, list[str]]:
    """The models intake may use (those that beat their baseline), and warnings for the run report."""
    warnings: list[str] = []
    router: RoutingModelJson | None = None
    timer: TimeModel | None = None
    for kind in ("routing", "time_to_respond"):
        try:
            model = load_model(models_at(settings), kind)
        except ConfigError as exc:
            warnings.append(f"model not used: {exc}")
            continue
        if model is None:
            continue
        if not model.meta.usable:
            log.info("model not used", extra={"model": kind, "reason": model.meta.reason})
            continue
        if kind == "routing":
            router = RoutingModelJson.from_file(model)
        else:
            timer = TimeModel.from_file(model)
    return router, timer, warnings
