"""``foi-sync model train | evaluate | show``: the learned time-to-respond and routing models.

``train`` reads the CRM's history, judges each model on held-back cases against its baseline and saves it (marked
not usable, with the reason, when it does not beat the baseline). ``evaluate`` does the same judging on today's
history and prints the figures, and updates the saved files' verdict without replacing them unless ``--save``.
``show`` prints what the saved files say. Exit code 0; 1 when a model asked for is not usable (so a script can tell).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from connector.cli import AppContext

if TYPE_CHECKING:  # imported inside the commands, so `foi-sync --help` stays fast
    from connector.learn.model_file import ModelFile, ModelMeta
from connector.sync.learning import models_at

KINDS = {"time": ("time_to_respond",), "routing": ("routing",), "all": ("time_to_respond", "routing")}
TITLES = {"time_to_respond": "time to respond", "routing": "routing"}


def _lines(meta: ModelMeta) -> list[str]:
    m = meta.metrics
    out = [f"{TITLES[meta.kind]} model: {'USABLE' if meta.usable else 'NOT USABLE'}"]
    if meta.kind == "time_to_respond" and m:
        out.append(
            f"  mean absolute error on {meta.held_back} held-back cases: model {m['mae_model']:.2f} working days, "
            f"baseline (median per service area) {m['mae_baseline']:.2f}"
        )
    elif meta.kind == "routing" and m:
        out.append(
            f"  right service area on {meta.held_back} held-back cases: rules alone {m['accuracy_rules']:.1%}, "
            f"rules with the model {m['accuracy_with_model']:.1%}"
        )
    out.append(f"  {meta.reason}")
    out.append(
        f"  trained {meta.trained_at} on {meta.trained_on} cases (held back: {meta.split}); "
        f"fitted on {meta.fitted_on}; {meta.library}"
    )
    return out


def _print(models: dict[str, ModelFile], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({k: m.meta.model_dump(mode="json") for k, m in models.items()}, indent=2))
        return
    for model in models.values():
        for line in _lines(model.meta):
            click.echo(line)


@click.group()
def model() -> None:
    """Train, evaluate and show the learned time-to-respond and routing models."""


def _train(app: AppContext, kind: str, save: bool) -> dict[str, ModelFile]:
    from connector.dataverse import DataverseClient
    from connector.learn.model_file import save_model
    from connector.sync.learning import read_history, train_from_history
    from connector.sync.mapping import load_target_mapping

    settings = app.settings
    mapping = load_target_mapping(settings.sync.target_mapping)
    # A CRM that cannot be reached or refuses us ends in one message and exit 4 (connector/errors.py).
    client = DataverseClient.from_settings(settings.dataverse)
    try:
        history = read_history(client, mapping)
    finally:
        client.close()
    models = train_from_history(history, settings, KINDS[kind])
    if save:
        from connector.sync.lock import lock_for

        # The scheduled job retrains and reads these files: write them under the sync's run lock (exit 3 while held).
        with lock_for(settings.sync.state_path):
            for m in models.values():
                save_model(models_at(settings), m)
    return models


_kind = click.option(
    "--kind", type=click.Choice(list(KINDS)), default="all", show_default=True, help="Which model (time, routing)."
)
_json = click.option("--json", "as_json", is_flag=True, help="The models' metadata as JSON.")


@model.command()
@_kind
@_json
@click.pass_obj
def train(app: AppContext, kind: str, as_json: bool) -> None:
    """Learn from the CRM's closed and routed cases, judge on held-back cases, and save the model files."""
    models = _train(app, kind, save=True)
    _print(models, as_json)
    if not as_json:
        click.echo(f"saved in {models_at(app.settings)}")
    sys.exit(0 if all(m.meta.usable for m in models.values()) else 1)


@model.command()
@_kind
@_json
@click.option("--save", is_flag=True, help="Also replace the saved model files with the ones just judged.")
@click.pass_obj
def evaluate(app: AppContext, kind: str, as_json: bool, save: bool) -> None:
    """Judge each model on today's held-back cases against its baseline; a model that does not beat it is refused."""
    from connector.learn.model_file import load_model, save_model

    models = _train(app, kind, save=save)
    if not save:  # the saved files take today's verdict: a model that no longer beats its baseline stops being used
        for k, fresh in models.items():
            saved = load_model(models_at(app.settings), k)
            if saved is not None and saved.meta.usable and not fresh.meta.usable:
                saved.meta.usable = False
                saved.meta.reason = f"refused on re-evaluation: {fresh.meta.reason}"
                saved.meta.metrics = fresh.meta.metrics
                save_model(models_at(app.settings), saved)
    _print(models, as_json)
    sys.exit(0 if all(m.meta.usable for m in models.values()) else 1)


@model.command()
@_kind
@_json
@click.pass_obj
def show(app: AppContext, kind: str, as_json: bool) -> None:
    """What the saved model files say: trained when, on how many cases, their errors and whether they are used."""
    from connector.learn.model_file import load_model

    models = {k: m for k in KINDS[kind] if (m := load_model(models_at(app.settings), k)) is not None}
    if not models:
        click.echo(f"no model files in {models_at(app.settings)}: run `foi-sync model train`")
        sys.exit(1)
    _print(models, as_json)
