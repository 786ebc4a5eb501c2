"""``foi-sync letters``: preview the letters foi-sync would send, so an officer can check the wording first."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from connector.cli import AppContext
from connector.letters import LetterType, letters_due, render_letter
from connector.letters.files import preview_path
from connector.letters.types import APPLIES_TO, TITLES
from connector.model import FoiCase, Regime

if TYPE_CHECKING:
    from connector.config import Settings


@click.group(name="letters")
def letters() -> None:
    """Preview the letters foi-sync sends."""


@letters.command(name="list-types")
def list_types() -> None:
    """List the letter types and the regimes each one exists in."""
    from rich.console import Console
    from rich.table import Table

    table = Table("type", "title", "regimes")
    for letter in LetterType:
        regimes = ", ".join(r.value for r in Regime if r in APPLIES_TO[letter])
        table.add_row(letter.value, TITLES[letter], regimes)
    Console().print(table)


def _safe(reference: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", reference).strip("-") or "case"


def _cases_from_json(path: Path) -> list[FoiCase]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read the file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    items = data.get("cases", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise click.ClickException(f'{path}: expected a case object, a list of cases or {{"cases": [...]}}')
    cases = []
    for i, item in enumerate(items):
        try:
            cases.append(FoiCase.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise click.ClickException(f"{path}: case #{i + 1}: {problems}") from None
    return cases


def _cases_from_intake(settings: Settings) -> list[FoiCase]:
    try:
        from connector.intake import run_intake
    except ImportError:
        raise click.ClickException(
            "the intake module is not available in this installation; pass the case with --case-json FILE"
        ) from None
    if not settings.intake.sources:
        raise click.ClickException(
            "no [[intake.sources]] in the config, so there is no register to find the case in; "
            "add a source or pass the case with --case-json FILE"
        )
    return list(run_intake(settings).cases)


def find_case(cases: list[FoiCase], reference: str) -> FoiCase:
    wanted = reference.strip().casefold()
    for case in cases:
        if case.reference.casefold() == wanted or _safe(case.reference).casefold() == _safe(reference).casefold():
            return case
    raise click.ClickException(f"no case with reference {reference} among {len(cases)} cases read")


@letters.command(name="preview")
@click.argument("reference")
@click.option(
    "--type",
    "letter_type",
    type=click.Choice([t.value for t in LetterType]),
    default=None,
    help="Letter to render (default: every letter the case is due now).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the .html and .txt files (default var/letters-preview).",
)
@click.option(
    "--case-json",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help='Read the case from this JSON file (a FoiCase, a list, or {"cases": [...]}) instead of the intake sources.',
)
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Date the letter (YYYY-MM-DD).")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="New or estimated decision date for an extension notice (YYYY-MM-DD).",
)
@click.option("--fee", "fee_amount", default=None, help="Fee amount for the fees notice, e.g. 45.50.")
@click.option("--transfer-to", default=None, help="Authority that holds the information (transfer notice).")
@click.option("--transfer-contact", default=None, help="That authority's FOI contact (transfer notice).")
@click.option(
    "--pdf/--no-pdf",
    default=True,
    help="Also print each letter to PDF with headless Chromium, for posting (default: on).",
)
@click.option(
    "--browser",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Chromium to print the PDF with (default: chromium on the PATH).",
)
@click.pass_obj
def preview(
    app: AppContext,
    reference: str,
    letter_type: str | None,
    out_dir: Path | None,
    case_json: Path | None,
    today: datetime | None,
    until: datetime | None,
    fee_amount: str | None,
    transfer_to: str | None,
    transfer_contact: str | None,
    pdf: bool,
    browser: Path | None,
) -> None:
    """Write the rendered letter(s) for case REFERENCE as .html, .txt and .pdf files; nothing is sent."""
    from connector.letters.pdf import PdfError, html_to_pdf

    settings = app.settings
    cases = _cases_from_json(case_json) if case_json else _cases_from_intake(settings)
    case = find_case(cases, reference)
    types = [LetterType(letter_type)] if letter_type else letters_due(case)
    if not types:
        raise click.ClickException(
            f"case {case.reference} (stage {case.stage.value}) is due no letters now; pick one with --type"
        )
    out = out_dir or settings.resolve("var/letters-preview")
    out.mkdir(parents=True, exist_ok=True)
    extra = {
        "until": until.date() if until else None,
        "fee_amount": fee_amount,
        "transfer_to": transfer_to,
        "transfer_contact": transfer_contact,
    }
    for letter in types:
        rendered = render_letter(letter, case, settings, today=today.date() if today else None, extra=extra)
        html_path = preview_path(out, case.reference, letter.value, "html")
        text_path = preview_path(out, case.reference, letter.value, "txt")
        html_path.write_text(rendered.html, encoding="utf-8")
        text_path.write_text(rendered.text, encoding="utf-8")
        click.echo(f"{letter.value}: {rendered.subject}")
        click.echo(f"  template {rendered.template}")
        click.echo(f"  {html_path}")
        click.echo(f"  {text_path}")
        if pdf:
            try:
                pdf_path = preview_path(out, case.reference, letter.value, "pdf")
                click.echo(f"  {html_to_pdf(html_path, pdf_path, browser=browser)}")
            except PdfError as exc:
                raise click.ClickException(f"{exc} (the .html and .txt files are written)") from None
