"""Rendering: every template in every regime it applies to, escaping, the sandbox, overrides, UK dates."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from letters_support import INJECTION, TODAY
from screenshots import write_png

from connector.config import load_settings
from connector.deadlines import DeadlineEngine
from connector.letters import LetterError, LetterRenderer, LetterType, applies, render_letter, uk_date
from connector.letters.types import REGIMES
from connector.model import ClockEvent, Regime
from connector.rules import months_beginning_with

#: Clock events that make each letter meaningful (extensions need their date).
EVENTS = {
    LetterType.PIT_EXTENSION: [{"kind": "extension_pit", "on": "2025-07-30", "until": "2025-09-02"}],
    LetterType.EIR_EXTENSION: [{"kind": "extension_eir", "on": "2025-07-30"}],
    LetterType.SAR_EXTENSION: [{"kind": "extension_sar", "on": "2025-07-30"}],
    LetterType.FEES: [{"kind": "fee_notice_issued", "on": "2025-07-10"}],
    LetterType.CLARIFICATION: [{"kind": "clarification_requested", "on": "2025-07-07"}],
    LetterType.INTERNAL_REVIEW_ACK: [{"kind": "internal_review_requested", "on": "2025-08-20"}],
}
PAIRS = [(lt, rg) for lt in LetterType for rg in Regime if applies(lt, rg)]


@pytest.mark.parametrize(("letter", "regime"), PAIRS, ids=[f"{lt.value}-{rg.value}" for lt, rg in PAIRS])
def test_every_template_renders_for_every_regime(settings, make_case, letter, regime):
    case = make_case(regime, events=EVENTS.get(letter), exemptions=["s43(2)"] if regime is Regime.FOIA else [])
    deadline = DeadlineEngine.from_settings(settings).compute(case)
    out = render_letter(letter, case, settings, deadline, today=TODAY)
    info = REGIMES[regime]
    for body in (out.html, out.text):
        assert "4 July 2025" in body  # date of receipt, UK style
        assert "7 July 2025" in body  # date of the letter
        if letter is LetterType.INTERNAL_REVIEW_ACK:
            assert re.search(r"\d{1,2} (September|October) 2025", body)  # review due date
        else:
            assert uk_date(deadline.due) in body  # due date from the deadline engine
        assert case.reference in body
        assert "Example Borough Council" in body
        commissioner = "Scottish Information Commissioner" if info.scottish else "Information Commissioner"
        assert commissioner in body.replace("&#39;", "'")
        assert "None" not in body and "Undefined" not in body
    assert case.reference in out.subject
    assert out.html.lstrip().startswith("<!DOCTYPE html>")
    assert "<" not in out.text.replace("<b>", "")  # the text variant carries no markup of ours
    if letter is LetterType.ACKNOWLEDGEMENT:
        assert out.template == f"acknowledgement_{info.family}.html.j2"


def test_regime_wording_and_extension_dates(settings, make_case):
    pit = render_letter(
        LetterType.PIT_EXTENSION, make_case("foia", events=EVENTS[LetterType.PIT_EXTENSION]), settings, today=TODAY
    )
    assert "2 September 2025" in pit.text and "section 17(2)" in pit.text
    eir = render_letter(
        LetterType.EIR_EXTENSION, make_case("eir", events=EVENTS[LetterType.EIR_EXTENSION]), settings, today=TODAY
    )
    assert "Regulation 7(1)" in eir.text and "40 working days" in eir.text
    assert re.search(r"first 20 working days\.\n\nWe will now respond by \d+ \w+ 2025", eir.text)  # paragraphs kept
    clar = render_letter(LetterType.CLARIFICATION, make_case("foia"), settings, today=TODAY)
    assert "start again from the day we receive your reply" in clar.text
    fees = render_letter(LetterType.FEES, make_case("foia", events=EVENTS[LetterType.FEES]), settings, today=TODAY)
    assert "paused" in fees.text and "9 October 2025" in fees.text  # 3 months beginning with 10 July
    sar = render_letter(LetterType.ACKNOWLEDGEMENT, make_case("sar"), settings, today=TODAY)
    assert "Article 12(3)" in sar.text and "4 August 2025" in sar.text  # one month from 4 July
    foisa = render_letter(LetterType.ACKNOWLEDGEMENT, make_case("foisa"), settings, today=TODAY)
    assert "Kinburn Castle" in foisa.text and "Wycliffe House" not in foisa.text


def test_letter_not_in_regime_is_refused(settings, make_case):
    with pytest.raises(LetterError, match="no pit_extension letter for FOISA"):
        render_letter(LetterType.PIT_EXTENSION, make_case("foisa"), settings, today=TODAY)
    with pytest.raises(LetterError, match="no eir_extension letter for FOIA"):
        render_letter(LetterType.EIR_EXTENSION, make_case("foia"), settings, today=TODAY)


def test_injection_in_request_text_is_escaped_and_inert(settings, make_case):
    case = make_case(request_text=INJECTION, name="<b>Eve</b> {{ 6*1009 }}")
    out = render_letter(LetterType.ACKNOWLEDGEMENT, case, settings, today=TODAY)
    # HTML: markup escaped, template syntax printed literally, never evaluated.
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "<b>Eve</b>" not in out.html and "&lt;b&gt;Eve&lt;/b&gt;" in out.html
    assert "{{ 7*191 }}" in out.html and "{{ 6*1009 }}" in out.html
    assert "1337" not in out.html and "6054" not in out.html
    assert "{% raw %}{{ config }}{% endraw %}" in out.html
    assert "{{ &#39;&#39;.__class__ }}" in out.html and "&lt;class" not in out.html
    # Text: not HTML-escaped (it is plain text), and just as inert.
    assert INJECTION in out.text
    assert "<b>Eve</b> {{ 6*1009 }}" in out.text
    assert "1337" not in out.text and "6054" not in out.text and "<class" not in out.text


def test_template_override_folder(tmp_path, make_case):
    override = tmp_path / "my-templates"
    override.mkdir()
    (override / "acknowledgement_foia.html.j2").write_text(
        '{% extends "shipped/_base.html.j2" %}{% block body %}<p>OVERRIDDEN for {{ case.reference }}'
        " due {{ dates.due|uk_date }}</p>{% endblock %}",
        encoding="utf-8",
    )
    (override / "_complain.txt.j2").write_text("COMPLAIN TO {{ regulator.short }}\n", encoding="utf-8")
    settings = load_settings(None, base_dir=tmp_path, letters={"template_dir": "my-templates"})
    out = render_letter(LetterType.ACKNOWLEDGEMENT, make_case("foia"), settings, today=TODAY)
    assert "OVERRIDDEN for FOI/2025/0142 due 5 August 2025" in out.html
    assert "Example Borough Council" in out.html  # the shipped base layout still frames it
    assert "COMPLAIN TO ICO" in out.text  # partial overridden for every letter
    assert "Section 10 of the Act" in out.text  # text variant not overridden: shipped one used
    other = render_letter(LetterType.ACKNOWLEDGEMENT, make_case("eir"), settings, today=TODAY)
    assert "OVERRIDDEN" not in other.html


def test_override_errors_are_reported_not_executed(tmp_path, make_case):
    override = tmp_path / "t"
    override.mkdir()
    settings = load_settings(None, base_dir=tmp_path, letters={"template_dir": "t"})
    case = make_case("foia")
    (override / "not_held.html.j2").write_text("{{ no_such_variable }}", encoding="utf-8")
    with pytest.raises(LetterError, match=r"not_held\.html\.j2.*no_such_variable"):
        render_letter(LetterType.NOT_HELD, case, settings, today=TODAY)
    (override / "not_held.html.j2").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    with pytest.raises(LetterError, match="sandbox"):
        render_letter(LetterType.NOT_HELD, case, settings, today=TODAY)
    (override / "not_held.html.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(LetterError, match="line 1"):
        render_letter(LetterType.NOT_HELD, case, settings, today=TODAY)


def test_missing_override_folder_is_a_config_error(tmp_path):
    from connector.errors import ConfigError

    settings = load_settings(None, base_dir=tmp_path, letters={"template_dir": "nope"})
    with pytest.raises(ConfigError, match=r"letters\.template_dir"):
        LetterRenderer(settings)


def test_logo_is_embedded_as_data_uri(tmp_path, make_case):
    write_png(tmp_path / "logo.png", 4, 4, (200, 30, 30))
    settings = load_settings(None, base_dir=tmp_path, council={"logo_path": "logo.png", "name": "Northtown Council"})
    out = render_letter(LetterType.ACKNOWLEDGEMENT, make_case(), settings, today=TODAY)
    assert 'src="data:image/png;base64,iVBORw0KGgo' in out.html
    assert "Northtown Council" in out.text


@pytest.mark.parametrize(
    ("given", "expected"),
    [(date(2025, 7, 4), "4 July 2025"), (date(2026, 1, 31), "31 January 2026"), (None, "")],
)
def test_uk_date(given, expected):
    assert uk_date(given) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 7, 4), date(2025, 10, 3)),
        (date(2025, 1, 31), date(2025, 4, 30)),
        (date(2025, 11, 30), date(2026, 2, 28)),
        (date(2025, 12, 1), date(2026, 2, 28)),
    ],
)
def test_three_months_beginning_with(start, end):
    assert months_beginning_with(start, 3) == end


def test_long_request_is_shortened_in_the_quote(settings, make_case):
    out = render_letter(LetterType.ACKNOWLEDGEMENT, make_case(request_text="x" * 9000), settings, today=TODAY)
    assert "Shortened here" in out.text and "x" * 9000 not in out.text


def test_shipped_templates_all_have_both_formats():
    from connector.paths import TEMPLATES_DIR

    html = {p.name[: -len(".html.j2")] for p in Path(TEMPLATES_DIR).glob("*.html.j2")}
    txt = {p.name[: -len(".txt.j2")] for p in Path(TEMPLATES_DIR).glob("*.txt.j2")}
    assert html == txt


@pytest.mark.parametrize(
    ("regime", "notice"),
    [
        ("foia", "2025-08-01"),  # three months beginning with 1 Aug: 31 October
        ("foia", "2025-08-31"),  # no 31 November: 30 November
        ("foisa", "2025-11-30"),  # no 30 February 2026: 28 February
        ("foia", "2025-12-01"),
        ("eir", "2025-08-29"),  # 60 working days
        ("eisr", "2025-11-28"),
    ],
)
def test_fees_letter_and_engine_give_the_same_last_day(settings, make_case, regime, notice):
    case = make_case(regime, events=[{"kind": "fee_notice_issued", "on": notice}])
    engine = DeadlineEngine.from_settings(settings)
    last = engine.compute(case).fee_last_day
    assert last is not None and last == engine.fee_last_day(regime, date.fromisoformat(notice))
    out = render_letter(LetterType.FEES, case, settings, today=TODAY, engine=engine)
    assert uk_date(last) in out.text and uk_date(last) in out.html


def test_fees_letter_for_a_notice_on_1_may_says_31_july(settings, make_case):
    # The case: FOIA s.9(2), notice given 1 May 2025 -> last day Thu 31 July 2025 (was 30 July in the engine).
    base = make_case("foia")
    event = ClockEvent(kind="fee_notice_issued", on=date(2025, 5, 1))
    case = base.model_copy(update={"received_at": base.received_at.replace(month=4, day=28), "clock_events": [event]})
    out = render_letter(LetterType.FEES, case, settings, today=TODAY)
    assert "31 July 2025" in out.text
    assert DeadlineEngine.from_settings(settings).compute(case).fee_last_day == date(2025, 7, 31)
