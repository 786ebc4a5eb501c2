"""Triage: before any statutory clock starts, decide what each request is. A stage after normalise.

Three questions, in this order, each answer explained in words an officer can check (``triage_explanation``, pushed
to the CRM) and each overridable by the officer in the CRM (``triage_override``, read back on the next sync):

1. **Business as usual?** A missed bin, library opening hours or a pothole report is a service request, not a request
   for recorded information. Editable rules (``mappings/triage-rules.toml``) recognise it and re-route it to the
   service (case type, team, a routing reply) at stage ``rerouted``, with no statutory clock. ICO, *Recognising a
   request made under FOIA (section 8)*: a request that can be answered quickly "may be better dealt with in the
   normal course of business".
   https://ico.org.uk/for-organisations/foi/freedom-of-information-and-environmental-information-regulations/recognising-a-request-made-under-the-freedom-of-information-act-section-8/
2. **Which regime?** A request for the requester's own personal data is a subject access request whatever it was
   sent as (the same ICO guidance: it "should be dealt with as a subject access request"; FOIA s.40(1) exempts the
   applicant's own personal data from FOI), so a SAR sent as FOI is handled as a SAR by default (UK GDPR Art 12(3)
   clock, SAR letters). Environmental information (EIR reg 2(1); EISR reg 2(1)) is handled under the EIR/EISR (FOIA
   s.39 exempts it from FOI). https://www.legislation.gov.uk/uksi/2004/3391/regulation/2
3. **Valid under that regime?**
   - FOIA s.8(1): in writing, the applicant's name and an address for correspondence, a description of the
     information. https://www.legislation.gov.uk/ukpga/2000/36/section/8 . ICO (above): the *real* name; an obvious
     pseudonym makes the request invalid (good practice is still to consider it); an email address counts.
   - FOISA s.8(1): the same three requirements; "in writing" includes another form with some permanency capable of
     being used for reference (s.8(2)). https://www.legislation.gov.uk/asp/2002/13/section/8
   - EIR reg 5 / EISR reg 5: no formalities at all; a request may be made in any form, including spoken, and needs
     no name or address. https://www.legislation.gov.uk/uksi/2004/3391/regulation/5 ,
     https://www.legislation.gov.uk/ssi/2004/520/regulation/5
   - SAR (UK GDPR Art 15, Art 12(6)): any form, including spoken; the controller may ask for information to confirm
     identity, never for the motive. ICO, *Right of access*.
     https://ico.org.uk/for-organisations/uk-gdpr-guidance-and-resources/individual-rights/right-of-access/

An invalid request is never dropped: it becomes a case at stage ``invalid`` (no clock) with the reason, and the
advice-and-assistance reply (FOIA s.16, FOISA s.15) is drafted for the officer (connector/letters/notices.py).

Only cases nobody has acted on (received, validated, or "open" with no outcome, response or clock event) are triaged: a historical register's answered cases are what
they are. An officer's override always wins, and the explanation says what triage would have done.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector import tomlfile
from connector.errors import MappingError
from connector.intake.classify import detect_regime
from connector.model import INVALID_REASONS, Channel, FoiCase, Regime, Stage, TriageOutcome, TriageOverride

log = logging.getLogger(__name__)

#: Stages triage looks at: a request nobody has started answering yet (plus its own earlier decisions). Registers
#: often mark every new request "Open" (in_progress), so that counts too while the case has no outcome, response or
#: clock event (no officer has acted on it).
TRIAGE_STAGES = frozenset({Stage.RECEIVED, Stage.VALIDATED, Stage.IN_PROGRESS, Stage.INVALID, Stage.REROUTED})

#: Reason codes (``triage_reason``) and their words: the one vocabulary in connector/model.py.
REASONS = INVALID_REASONS


def _compile(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


def _any_of(rxs: list[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One pattern that matches wherever one of ``rxs`` does, so a request is searched once per rule; only a hit is
    searched again pattern by pattern, to name the one that matched. None where joining could change a pattern's
    meaning (back-references number groups across the join; inline global flags cannot be joined)."""
    if not rxs or any(re.search(r"\\[1-9]|\(\?P=|\(\?[aiLmsux]+\)", rx.pattern) for rx in rxs):
        return None
    try:
        return re.compile("|".join(f"(?:{rx.pattern})" for rx in rxs), re.IGNORECASE)
    except re.error:
        return None


def _check_patterns(value: list[str]) -> list[str]:
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"pattern {pattern!r} is not a valid regular expression ({exc}); correct it, or escape characters "
                "such as ( [ ? with a backslash"
            ) from None
    return value


class BusinessAsUsualRule(BaseModel):
    """One kind of service request: what it looks like, where it goes and what the requester is told."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    #: "service_request" (report a problem, book a service) or "question" (opinions, not recorded information).
    kind: str = Field(default="service_request", pattern=r"^(service_request|question)$")
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    service_area: str = Field(min_length=1, max_length=100)
    team: str | None = Field(default=None, max_length=100)
    #: One or two sentences for the routing reply to the requester (plain text; the letter template adds the rest).
    reply: str = Field(min_length=1, max_length=2000)
    #: Where the requester can do this themselves (quoted in the reply).
    link: str | None = Field(default=None, max_length=300)

    _check = field_validator("patterns")(_check_patterns)


class TriageRules(BaseModel):
    """``mappings/triage-rules.toml``: edited by the FOI team or the CRM admin."""

    model_config = ConfigDict(extra="forbid")

    #: Handle a request for the requester's own personal data as a SAR even when sent as FOI/EIR.
    sar_as_foi: bool = True
    #: Handle a FOI request for environmental information under the EIR (EISR in Scotland).
    eir_detection: bool = True
    #: Names that are not a name (FOIA/FOISA s.8(1)(b) needs the real name).
    placeholder_names: list[str] = Field(default_factory=list)
    #: Obvious pseudonyms (ICO s.8 guidance), matched as whole names, any case.
    pseudonyms: list[str] = Field(default_factory=list)
    pseudonym_patterns: list[str] = Field(default_factory=list)
    #: A description needs at least this many words (s.8(1)(c)); "FOI request" alone describes nothing.
    min_description_words: int = Field(default=3, ge=1, le=50)
    #: Wording that asks for recorded information: a request matching a business-as-usual rule but also one of
    #: these ("how many missed collections in 2024?") is a request for information, not a service request.
    information_signals: list[str] = Field(default_factory=list)
    business_as_usual: list[BusinessAsUsualRule] = Field(default_factory=list)

    _check = field_validator("pseudonym_patterns", "information_signals")(_check_patterns)


def load_triage_rules(path: Path) -> TriageRules:
    """Read and validate the triage rules through the one TOML loader: every problem names file, line, key and fix."""
    data, text = tomlfile.read_toml(
        Path(path),
        what="the triage rules",
        fix_path="set intake.triage_rules to the triage file (the shipped one is mappings/triage-rules.toml)",
        error=MappingError,
    )
    return tomlfile.validate(TriageRules, data, path=path, text=text, error=MappingError)


@dataclass(frozen=True)
class TriageDecision:
    """What triage decided for one case, and why (no requester data in ``explanation``)."""

    outcome: TriageOutcome
    regime: Regime
    stage: Stage
    reason: str | None
    explanation: str
    rule: BusinessAsUsualRule | None = None

    @property
    def stage_label(self) -> str:
        """``invalid: no address for correspondence`` - how the CRM stage reads to an officer."""
        if self.outcome is TriageOutcome.INVALID and self.reason:
            return f"invalid: {REASONS.get(self.reason, self.reason)}"
        return self.stage.value


def _words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9£]+", text))


class Triage:
    """Compiled rules; ``decide(case)`` is pure, ``apply(cases)`` writes the decision onto the cases."""

    def __init__(self, rules: TriageRules) -> None:
        self.rules = rules
        self.placeholders = {" ".join(n.casefold().split()) for n in rules.placeholder_names}
        self.pseudonyms = {" ".join(n.casefold().split()) for n in rules.pseudonyms}
        self.pseudonym_rx = _compile(rules.pseudonym_patterns)
        self.signals = _compile(rules.information_signals)
        self.bau = [
            (
                rule,
                [re.compile(r"\b" + re.escape(k.strip()) + r"\b", re.IGNORECASE) for k in rule.keywords if k.strip()]
                + _compile(rule.patterns),
            )
            for rule in rules.business_as_usual
        ]
        self.bau_any = [_any_of(rxs) for _, rxs in self.bau]
        #: Every rule's patterns joined: most requests are not business as usual and are searched once.
        self.bau_none = _any_of([rx for _, rxs in self.bau for rx in rxs])

    # ------------------------------------------------------------------ the three questions
    def business_as_usual(self, text: str) -> tuple[BusinessAsUsualRule | None, str | None]:
        """(rule, signal) - the first matching rule, unless the wording asks for recorded information."""
        if self.bau_none is not None and self.bau_none.search(text) is None:
            return (None, None)
        for (rule, rxs), any_rx in zip(self.bau, self.bau_any, strict=True):
            if any_rx is not None and any_rx.search(text) is None:
                continue
            hit = next((rx.pattern for rx in rxs if rx.search(text)), None)
            if hit is None:
                continue
            signal = next((rx.pattern for rx in self.signals if rx.search(text)), None)
            return (rule, signal)
        return (None, None)

    def regime(self, case: FoiCase, text: str) -> tuple[Regime, str | None]:
        """The regime to handle the case under, and why it changed (None when unchanged)."""
        found = detect_regime(text)
        scottish = case.scottish
        if self.rules.sar_as_foi and found == "sar" and case.regime is not Regime.SAR:
            return (
                Regime.SAR,
                f"sent as {case.regime.value.upper()} but asks for the requester's own personal data, so it is "
                "handled as a subject access request (UK GDPR Art 15; the FOI exemption for the applicant's own "
                f"personal data is {'FOISA s.38(1)(a)' if scottish else 'FOIA s.40(1)'}). The one-month SAR clock "
                "applies (Art 12(3)).",
            )
        if self.rules.eir_detection and found == "eir" and case.regime in (Regime.FOIA, Regime.FOISA):
            to = Regime.EISR if scottish else Regime.EIR
            return (
                to,
                f"sent as {case.regime.value.upper()} but asks for environmental information "
                f"({'EISR' if scottish else 'EIR'} reg 2(1)), so it is handled under the "
                f"{'Environmental Information (Scotland) Regulations 2004' if scottish else 'Environmental Information Regulations 2004'}"
                f" ({'FOISA s.39(2)' if scottish else 'FOIA s.39'} exempts it from FOI).",
            )
        return (case.regime, None)

    def validity(self, case: FoiCase, regime: Regime) -> tuple[str | None, str]:
        """(reason code or None, explanation) for the formal requirements of ``regime``."""
        r = case.requester
        name = " ".join((r.name or "").casefold().split())
        text = case.request_text
        if regime in (Regime.EIR, Regime.EISR):
            law = "EIR reg 5" if regime is Regime.EIR else "EISR reg 5"
            note = "" if r.has_address else " No address was given: record how to reply (for example by phone)."
            return (
                None,
                f"Valid: {law} sets no formal requirements (any form, spoken included; no name or address "
                f"needed).{note}",
            )
        if regime is Regime.SAR:
            if not name:
                return (
                    "identity_unknown",
                    "Invalid for now: a subject access request needs to identify the requester (UK GDPR Art 12(6): "
                    "we may ask for information to confirm identity). Ask who they are; never ask why they want it.",
                )
            return (
                None,
                "Valid: a subject access request may be made in any form (UK GDPR Art 15); the motive is "
                "irrelevant. Confirm identity if in doubt (Art 12(6)).",
            )
        act = "FOISA s.8" if regime is Regime.FOISA else "FOIA s.8"
        if case.channel is Channel.PHONE:
            return (
                "not_in_writing",
                f"Invalid: {act}(1)(a) needs the request in writing and this one was made by phone. Help the "
                f"requester put it in writing ({'FOISA s.15' if regime is Regime.FOISA else 'FOIA s.16'}), or "
                "handle it under the EIR if it is about environmental information (spoken requests are valid there).",
            )
        if not name:
            return ("no_name", f"Invalid: {act}(1)(b) needs the requester's name and none was given.")
        if name in self.placeholders:
            return (
                "no_real_name",
                f"Invalid: {act}(1)(b) needs the requester's real name; the name given is a "
                "placeholder (ICO s.8 guidance).",
            )
        if name in self.pseudonyms or any(rx.search(name) for rx in self.pseudonym_rx):
            return (
                "pseudonym",
                f"Invalid: the name given is an obvious pseudonym and {act}(1)(b) needs the real name (ICO s.8 "
                "guidance: a request under a pseudonym is not valid, and the regulator cannot take a complaint about "
                "it; good practice is still to consider releasing the information).",
            )
        if not r.has_address:
            return (
                "no_address",
                f"Invalid: {act}(1)(b) needs an address for correspondence (an email address "
                "counts) and none was given.",
            )
        if _words(text) < self.rules.min_description_words:
            return ("no_description", f"Invalid: {act}(1)(c) needs a description of the information wanted.")
        return (
            None,
            f"Valid: {act}(1) requirements met (in writing, name, address for correspondence, "
            "description of the information).",
        )

    # ------------------------------------------------------------------ decision
    def decide(self, case: FoiCase, override: TriageOverride | None = None) -> TriageDecision:
        text = f"{case.subject}\n{case.request_text}"
        rule, signal = (None, None) if case.regime is Regime.SAR else self.business_as_usual(text)
        regime, moved = self.regime(case, text)
        reason, validity = self.validity(case, regime)

        if rule is not None and signal is None:
            what = (
                "a question asking for opinions or explanations, not recorded information"
                if (rule.kind == "question")
                else "a service request, not a request for recorded information"
            )
            auto = TriageDecision(
                TriageOutcome.BUSINESS_AS_USUAL,
                case.regime,
                Stage.REROUTED,
                f"business_as_usual:{rule.name}",
                f"Business as usual (rule '{rule.name}'): {what}; re-routed to {rule.service_area}"
                f"{' (' + rule.team + ')' if rule.team else ''} with a routing reply. No statutory clock.",
                rule,
            )
        else:
            parts = []
            if rule is not None:
                parts.append(
                    f"Looks like '{rule.name}' business as usual, but it asks for recorded information "
                    f"(matched /{signal}/), so it is a request."
                )
            if moved:
                parts.append("Regime: " + moved)
            parts.append(validity)
            if reason:
                auto = TriageDecision(
                    TriageOutcome.INVALID,
                    regime,
                    Stage.INVALID,
                    reason,
                    " ".join(parts) + " No statutory clock; advice and assistance reply drafted.",
                )
            else:
                auto = TriageDecision(
                    TriageOutcome.REQUEST,
                    regime,
                    case.stage if case.stage not in (Stage.INVALID, Stage.REROUTED) else Stage.RECEIVED,
                    None,
                    " ".join(parts),
                )
        if override is None:
            return auto
        return self._overridden(case, override, auto)

    def _overridden(self, case: FoiCase, override: TriageOverride, auto: TriageDecision) -> TriageDecision:
        scottish = case.scottish
        start = case.stage if case.stage not in (Stage.INVALID, Stage.REROUTED) else Stage.RECEIVED
        said = f" (Triage alone would say: {auto.explanation})"
        regime_for = {
            TriageOverride.AS_FOI: Regime.FOISA if scottish else Regime.FOIA,
            TriageOverride.AS_EIR: Regime.EISR if scottish else Regime.EIR,
            TriageOverride.AS_SAR: Regime.SAR,
            TriageOverride.AS_REQUEST: auto.regime,
        }
        if override in regime_for:
            regime = regime_for[override]
            return TriageDecision(
                TriageOutcome.REQUEST,
                regime,
                start,
                f"override:{override.value}",
                f"Officer override in the CRM: a valid {regime.value.upper()} request; the statutory clock runs."
                + said,
            )
        if override is TriageOverride.AS_INVALID:
            return TriageDecision(
                TriageOutcome.INVALID,
                auto.regime,
                Stage.INVALID,
                auto.reason or "override:as_invalid",
                "Officer override in the CRM: not a valid request; no statutory clock." + said,
            )
        return TriageDecision(
            TriageOutcome.BUSINESS_AS_USUAL,
            case.regime,
            Stage.REROUTED,
            auto.reason or "override:business_as_usual",
            "Officer override in the CRM: business as usual, re-routed; no statutory clock." + said,
            auto.rule,
        )

    def apply(
        self, cases: Iterable[FoiCase], overrides: Mapping[str, TriageOverride] | None = None
    ) -> list[TriageDecision | None]:
        """Decide and write the decision onto each case (regime, stage, routing, triage fields). Cases past the
        first stages are left alone (None)."""
        overrides = overrides or {}
        out: list[TriageDecision | None] = []
        for case in cases:
            override = overrides.get(case.reference) or case.triage_override
            untouched = case.outcome is None and case.responded_at is None and not case.clock_events
            if case.stage not in TRIAGE_STAGES or not untouched:
                out.append(None)
                continue
            d = self.decide(case, override)
            case.regime = d.regime
            case.stage = d.stage
            case.triage = d.outcome
            case.triage_reason = d.reason
            case.triage_explanation = d.explanation[:4000]
            case.triage_override = override
            if d.outcome is TriageOutcome.BUSINESS_AS_USUAL and d.rule is not None:
                case.service_area = d.rule.service_area
                case.assigned_team = d.rule.team or case.assigned_team
                case.routing_reply = d.rule.reply + (f" {d.rule.link}" if d.rule.link else "")
            out.append(d)
        return out


def rule_named(rules: TriageRules, name: str) -> BusinessAsUsualRule | None:
    """The business-as-usual rule a case's ``triage_reason`` (``business_as_usual:<name>``) points at."""
    return next((r for r in rules.business_as_usual if r.name == name), None)
