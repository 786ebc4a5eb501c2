"""Render letters with Jinja2: sandboxed, autoescaped HTML, StrictUndefined, admin overrides by file name.

Requester text (name, subject, request text) only ever reaches a template as *data* in the context. It is
never compiled, so ``{{ 7*7 }}`` in a request stays literally ``{{ 7*7 }}`` and ``<script>`` is escaped in the
HTML variant. The plain-text variant is not HTML-escaped (it is plain text) but is just as inert.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.deadlines import DeadlineEngine, DeadlineResult
from connector.errors import ConfigError, FoiSyncError
from connector.letters.notices import notice_law
from connector.letters.types import NEEDS_EXEMPTION, REGIMES, TITLES, LetterType, applies
from connector.model import INVALID_REASONS, LONDON, ClockEvent, ClockEventKind, FoiCase, Regime
from connector.paths import TEMPLATES_DIR
from connector.rules import RegimeRule

if TYPE_CHECKING:
    from connector.config import Settings

log = logging.getLogger(__name__)

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
#: Longest stretch of the request quoted back in a letter; the full text stays on the case.
QUOTE_LIMIT = 4000
_LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}


class LetterError(FoiSyncError):
    """A letter could not be rendered: the message names the template or field and the fix (never requester data)."""


@dataclass(frozen=True)
class RenderedLetter:
    subject: str
    html: str
    text: str
    letter_type: LetterType | None = None
    reference: str = ""
    template: str = ""


def uk_date(value: date | datetime | None) -> str:
    """``4 July 2025``: the UK long form, independent of the machine's locale."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date() if value.tzinfo else value.date()
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def money(value: Any) -> str:
    """``£1,234.50`` from a number or numeric string."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"£{amount:,.2f}"


def _logo_data_uri(path: Path | None) -> str | None:
    if path is None:
        return None
    mime = _LOGO_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ConfigError(f"council.logo_path: {path.name} is not a PNG, JPEG, GIF or SVG file; convert the logo")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"council.logo_path: cannot read {path} ({exc.strerror}); fix the path or remove the key"
        ) from exc
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _notice_context(letter_type: LetterType, case: FoiCase) -> dict[str, Any]:
    """What the triage and decision notices quote: the law (connector/letters/notices.py) and the case's decision."""
    law = notice_law(letter_type, case.regime)
    return {
        "provision": law.notice if law else "",
        "ground": law.ground if law else "",
        "advice": law.advice if law else "",
        "limit": law.limit if law else "",
        "public_interest": law.public_interest if law else "",
        "outcome": case.outcome.value if case.outcome else None,
        "review_outcome": case.review_outcome.value if case.review_outcome else None,
        "reasons": case.decision_reasons,
        "invalid_reason": case.triage_reason,
        "invalid_words": INVALID_REASONS.get(case.triage_reason or "", ""),
        "routing_reply": case.routing_reply,
        "needs_name": case.triage_reason in ("no_name", "no_real_name", "pseudonym", "identity_unknown"),
    }


def make_environment(template_dir: Path | None = None) -> ImmutableSandboxedEnvironment:
    """Override folder first, then the shipped templates; ``shipped/<name>`` always reaches the shipped file
    (so an override can ``{% extends "shipped/_base.html.j2" %}``)."""
    shipped = jinja2.FileSystemLoader(str(TEMPLATES_DIR))
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not template_dir.is_dir():
            raise ConfigError(
                f"letters.template_dir: folder {template_dir} does not exist; create it or remove the key "
                "to use the shipped templates"
            )
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders += [shipped, jinja2.PrefixLoader({"shipped": shipped})]
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "html", "htm"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["uk_date"] = uk_date
    env.filters["money"] = money
    return env


def template_names(letter_type: LetterType, regime: Regime, fmt: str) -> list[str]:
    """Most specific first: ``acknowledgement_eisr``, ``acknowledgement_eir``, ``acknowledgement``."""
    info = REGIMES[regime]
    names = [f"{letter_type.value}_{regime.value}.{fmt}.j2"]
    if info.family != regime.value:
        names.append(f"{letter_type.value}_{info.family}.{fmt}.j2")
    names.append(f"{letter_type.value}.{fmt}.j2")
    return names


def rule_context(rule: RegimeRule) -> dict[str, Any]:
    """The numbers a template may quote (``regime.*``), read from the rules table: never written in a template."""
    review = rule.review
    ext = rule.extension
    return {
        "time_limit_words": rule.limit.words,
        "limit_days": rule.limit.working_days,
        "extension_words": ext.total.words if ext else None,
        "extension_extra_words": ext.expected_extra.words if ext and ext.expected_extra else None,
        "fee_lapse_words": rule.fee_lapse.words if rule.fee_lapse else None,
        "review_days": review.quoted.working_days if review else None,
        "review_basis": review.quoted.basis.value if review else None,
        "review_request_words": review.request_within.words if review else None,
        "transfer_reply_words": rule.transfer_reply.words,
    }


class LetterRenderer:
    """Holds one Jinja2 environment and the council's logo, so a run renders many letters cheaply."""

    def __init__(self, settings: Settings, engine: DeadlineEngine | None = None) -> None:
        self.settings = settings
        self.env = make_environment(settings.letters.template_dir)
        self.logo = _logo_data_uri(settings.council.logo_path)
        self._engine = engine

    @property
    def engine(self) -> DeadlineEngine:
        if self._engine is None:
            self._engine = DeadlineEngine.from_settings(self.settings)
        return self._engine

    # ------------------------------------------------------------------ context
    def context(
        self,
        letter_type: LetterType,
        case: FoiCase,
        deadline: DeadlineResult,
        today: date,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        info = REGIMES[case.regime]
        rule = info.rule
        council = self.settings.council
        cal = self.engine.calendar(case.regime)
        dates: dict[str, Any] = {
            "letter": today,
            "received": case.received_date,
            "due": deadline.due,
            "extended_due": deadline.extended_due,
            "day0": deadline.day0,
        }
        # Acknowledged late (received long ago, the due date already past): the letter states the position as it is
        # now (late, and what the requester may do) instead of promising a date in the past.
        effective = deadline.extended_due or deadline.due
        dates["late"] = bool(effective is not None and today > effective)
        dates["due_passed"] = effective

        clarification_note: str | None = None

        def latest(kind: ClockEventKind) -> ClockEvent | None:
            events = [e for e in case.clock_events if e.kind == kind]
            return max(events, key=lambda e: e.on) if events else None

        if letter_type is LetterType.CLARIFICATION:
            ev = latest(ClockEventKind.CLARIFICATION_REQUESTED)
            dates["clarification_requested"] = ev.on if ev else today
            clarification_note = ev.note if ev else None
            # Illustration of the restarted clock: a reply arriving on the letter date.
            limit_days = rule.limit.working_days
            dates["restart_example_due"] = cal.add_working_days(today, limit_days) if limit_days else None
        elif letter_type is LetterType.FEES:
            ev = latest(ClockEventKind.FEE_NOTICE_ISSUED)
            notice = ev.on if ev else today
            dates["fee_notice"] = notice
            # The engine's own rule (FOIA s.9(2) three months beginning with the notice; EIR reg 8 60 working
            # days), so the letter and the CRM's due dates can never disagree.
            dates["fee_lapse"] = self.engine.fee_last_day(case.regime, notice)
        elif letter_type in (LetterType.PIT_EXTENSION, LetterType.EIR_EXTENSION, LetterType.SAR_EXTENSION):
            kind = {
                LetterType.PIT_EXTENSION: ClockEventKind.EXTENSION_PIT,
                LetterType.EIR_EXTENSION: ClockEventKind.EXTENSION_EIR,
                LetterType.SAR_EXTENSION: ClockEventKind.EXTENSION_SAR,
            }[letter_type]
            ev = latest(kind)
            given = extra.get("until") if extra else None
            new_due = given or (ev.until if ev and ev.until else None) or deadline.extended_due
            if new_due is None and letter_type is LetterType.EIR_EXTENSION and rule.extension is not None:
                new_due = cal.add_working_days(deadline.day0, rule.extension.total.days)
            if new_due is None:
                raise LetterError(
                    f"case {case.reference}: the {letter_type.value} letter needs the new decision date; set 'until' "
                    f"on the {kind.value} clock event (or let the deadline engine compute the extension)"
                )
            dates["extended_due"] = new_due
            dates["extension_notified"] = ev.on if ev else today
        elif letter_type is LetterType.INTERNAL_REVIEW_ACK:
            ev = latest(ClockEventKind.INTERNAL_REVIEW_REQUESTED)
            received = ev.on if ev else today
            dates["review_received"] = received
            # The statutory (EIR reg 11(4): 40) or Code (20) period the letter quotes, so date and words agree.
            review_days = info.review_days
            dates["review_due"] = cal.add_working_days(received, review_days) if review_days else None

        text = case.request_text
        quoted = text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT].rstrip() + " …"
        extra = dict(extra or {})
        return {
            "letter": {
                "type": letter_type.value,
                "title": TITLES[letter_type],
                "date": today,
            },
            # A refusal / NCND preview without a recorded exemption says so to the officer (never sent that way).
            "needs_exemption": letter_type in NEEDS_EXEMPTION,
            "council": {
                "name": council.name,
                "nation": council.nation,
                "address": council.address,
                "address_lines": [p.strip() for p in council.address.split(",") if p.strip()],
                "foi_email": council.foi_email,
                "phone": council.phone,
                "website": council.website,
                "signature_name": council.signature_name,
                "signature_title": council.signature_title,
                "logo": self.logo,
            },
            "regime": {
                "code": info.code,
                "short": info.short,
                "law": info.law,
                "request_name": info.request_name,
                "duty": info.duty,
                "time_limit": info.time_limit,
                "time_limit_words": info.time_limit_words,
                "clarification_provision": info.clarification_provision,
                "fees_provision": info.fees_provision,
                "review_name": info.review_name,
                "review_provision": info.review_provision,
                "scottish": info.scottish,
                **rule_context(rule),
            },
            "regulator": {
                "name": rule.regulator.name,
                "short": rule.regulator.short,
                "address": rule.regulator.address,
                "phone": rule.regulator.phone,
                "website": rule.regulator.website,
                "apply_within_words": rule.regulator.apply_within.words if rule.regulator.apply_within else None,
            },
            "case": {
                "reference": case.reference,
                "subject": case.subject,
                "request_text": quoted,
                "request_shortened": len(text) > QUOTE_LIMIT,
                "exemptions": list(case.exemptions),
                "channel": case.channel.value,
                "service_area": case.service_area,
            },
            "requester": {
                # "Dear Sir or Madam" when the request gave no name (EIR needs none; an invalid FOI request)
                "name": case.requester.name or "Sir or Madam",
                "organisation": case.requester.organisation,
                "has_email": case.requester.email is not None,
            },
            "dates": dates,
            "notice": _notice_context(letter_type, case),
            "fee_amount": extra.pop("fee_amount", None),
            "transfer_to": extra.pop("transfer_to", None) or case.transfer_to,
            "transfer_contact": extra.pop("transfer_contact", None) or case.transfer_contact,
            "extension_reason": extra.pop("extension_reason", None),
            "until": extra.pop("until", None),
            "clarification_note": extra.pop("clarification_note", None) or clarification_note,
            "extra": extra,
        }

    # ------------------------------------------------------------------ render
    def render(
        self,
        letter_type: LetterType | str,
        case: FoiCase,
        deadline: DeadlineResult | None = None,
        *,
        today: date | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RenderedLetter:
        try:
            letter_type = LetterType(letter_type)
        except ValueError:
            raise LetterError(
                f"'{letter_type}' is not a letter type; choose one of {', '.join(t.value for t in LetterType)}"
            ) from None
        if not applies(letter_type, case.regime):
            raise LetterError(
                f"case {case.reference}: there is no {letter_type.value} letter for {case.regime.value.upper()} "
                "requests (see 'foi-sync letters list-types')"
            )
        if deadline is None:
            deadline = self.engine.compute(case)
        today = today or datetime.now(LONDON).date()
        ctx = self.context(letter_type, case, deadline, today, extra)
        html, html_name = self._render_one(letter_type, case, "html", ctx)
        text, _ = self._render_one(letter_type, case, "txt", ctx)
        subject = f"{TITLES[letter_type]} - {REGIMES[case.regime].short} ref {case.reference}"
        return RenderedLetter(subject, html, text, letter_type, case.reference, html_name)

    def _render_one(self, letter_type: LetterType, case: FoiCase, fmt: str, ctx: dict[str, Any]) -> tuple[str, str]:
        names = template_names(letter_type, case.regime, fmt)
        try:
            template = self.env.select_template(names)
        except jinja2.TemplateNotFound:
            raise LetterError(
                f"no template for the {letter_type.value} letter ({fmt}); looked for {', '.join(names)} in "
                f"{self.settings.letters.template_dir or '-'} and {TEMPLATES_DIR}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise LetterError(
                f"template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}; fix the template syntax"
            ) from None
        try:
            return template.render(ctx), template.name or names[0]
        except jinja2.UndefinedError as exc:
            raise LetterError(
                f"template {template.name}: {exc.message}; use only the variables listed in docs/letters.md"
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise LetterError(
                f"template {template.name}: blocked by the template sandbox ({exc}); templates may use only the "
                "letter variables listed in docs/letters.md, not Python attributes"
            ) from None
        except jinja2.TemplateError as exc:
            raise LetterError(f"template {template.name}: {exc}") from None


def render_letter(
    letter_type: LetterType | str,
    case: FoiCase,
    settings: Settings,
    deadline: DeadlineResult | None = None,
    *,
    today: date | None = None,
    extra: dict[str, Any] | None = None,
    engine: DeadlineEngine | None = None,
) -> RenderedLetter:
    """Render one letter (subject, HTML, plain text) for a case; ``deadline`` defaults to the engine's answer."""
    return LetterRenderer(settings, engine).render(letter_type, case, deadline, today=today, extra=extra)
