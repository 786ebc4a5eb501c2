"""The one validated FOI case model every stage speaks: intake produces it, sync pushes it, reports count it.

Enumerations use stable snake_case values; mapping files translate them to the CRM's choice values.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

LONDON = ZoneInfo("Europe/London")


class Regime(StrEnum):
    FOIA = "foia"  # Freedom of Information Act 2000 (England, Wales, Northern Ireland, UK-wide bodies)
    EIR = "eir"  # Environmental Information Regulations 2004
    FOISA = "foisa"  # Freedom of Information (Scotland) Act 2002
    EISR = "eisr"  # Environmental Information (Scotland) Regulations 2004
    SAR = "sar"  # UK GDPR Art 15 subject access


class Channel(StrEnum):
    EMAIL = "email"
    WEB_FORM = "web_form"
    POST = "post"
    PHONE = "phone"
    SOCIAL = "social"
    WHATDOTHEYKNOW = "whatdotheyknow"


class RequesterType(StrEnum):
    MEMBER_OF_PUBLIC = "member_of_public"
    JOURNALIST = "journalist"
    ELECTED_MEMBER = "elected_member"
    BUSINESS = "business"
    CAMPAIGN_GROUP = "campaign_group"
    RESEARCHER = "researcher"
    SOLICITOR = "solicitor"
    OTHER = "other"


class Stage(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    ACKNOWLEDGED = "acknowledged"
    CLARIFICATION_REQUESTED = "clarification_requested"
    FEE_REQUESTED = "fee_requested"
    IN_PROGRESS = "in_progress"
    EXTENDED = "extended"
    RESPONSE_SENT = "response_sent"
    CLOSED = "closed"
    WITHDRAWN_OR_LAPSED = "withdrawn_or_lapsed"
    INTERNAL_REVIEW = "internal_review"
    ICO_COMPLAINT = "ico_complaint"  # or a Scottish Information Commissioner appeal
    #: Triage (connector/intake/triage.py): not a valid request under its regime, e.g. FOIA/FOISA s.8 (no real
    #: name, no address for correspondence). No statutory clock; the s.16 advice-and-assistance reply is drafted.
    INVALID = "invalid"
    #: Triage: business as usual (a missed bin, opening hours): passed to the service, no statutory clock.
    REROUTED = "rerouted"


#: Stages with no statutory clock at all (not "closed": the clock never started). Deadline fields stay empty.
NO_CLOCK_STAGES = frozenset({Stage.INVALID, Stage.REROUTED})


#: Stages in which the case is closed: answered, closed, or withdrawn / lapsed (no answer is owed); triage's invalid
#: and re-routed requests owe no statutory answer either (NO_CLOCK_STAGES).
CLOSED_STAGES = frozenset({Stage.RESPONSE_SENT, Stage.CLOSED, Stage.WITHDRAWN_OR_LAPSED}) | NO_CLOCK_STAGES
#: Stages after which the first-response clock is over: closed, or moved on to a review or a complaint.
#: The one definition the engine, the reports and cross-referencing use.
FINISHED_STAGES = CLOSED_STAGES | {Stage.INTERNAL_REVIEW, Stage.ICO_COMPLAINT}
#: Finished with an answer (what an earlier request can have "answered before"): not withdrawn or lapsed.
ANSWERED_STAGES = FINISHED_STAGES - {Stage.WITHDRAWN_OR_LAPSED} - NO_CLOCK_STAGES
#: Stages waiting on the requester (clarification, fee): the clock is stopped or paused.
PAUSED_STAGES = frozenset({Stage.CLARIFICATION_REQUESTED, Stage.FEE_REQUESTED})
#: Paused, or ended without an answer (withdrawn / lapsed): not counted as late in the timeliness measures.
ON_HOLD_STAGES = PAUSED_STAGES | {Stage.WITHDRAWN_OR_LAPSED}
#: Open, first-instance stages: the request itself is still being answered (no decision notice has gone yet).
FIRST_INSTANCE_STAGES = frozenset(
    {
        Stage.RECEIVED,
        Stage.VALIDATED,
        Stage.ACKNOWLEDGED,
        Stage.CLARIFICATION_REQUESTED,
        Stage.FEE_REQUESTED,
        Stage.IN_PROGRESS,
        Stage.EXTENDED,
    }
)
#: Regimes whose reviews and complaints go to the Scottish Information Commissioner.
SCOTTISH_REGIMES = frozenset({Regime.FOISA, Regime.EISR})


class Outcome(StrEnum):
    GRANTED_IN_FULL = "granted_in_full"
    PARTIALLY_WITHHELD = "partially_withheld"
    WITHHELD_IN_FULL = "withheld_in_full"
    NOT_HELD = "not_held"
    REFUSED_COST = "refused_cost"
    VEXATIOUS = "vexatious"
    REPEATED = "repeated"
    ADVICE_AND_ASSISTANCE = "advice_and_assistance"
    NEITHER_CONFIRM_NOR_DENY = "neither_confirm_nor_deny"  # FOIA s.17(1) with e.g. s.40(5); FOISA s.18; EIR reg 12(6)
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"  # SAR refused, UK GDPR Art 12(5)(b)
    MANIFESTLY_EXCESSIVE = "manifestly_excessive"  # SAR refused, UK GDPR Art 12(5)(b)
    TRANSFERRED = "transferred"  # the information is held by another authority (s.45 Code; FOISA s.15)


class ClockEventKind(StrEnum):
    CLARIFICATION_REQUESTED = "clarification_requested"
    CLARIFICATION_RECEIVED = "clarification_received"  # restarts the clock (FOIA s.1(3), s.10(6)(b))
    FEE_NOTICE_ISSUED = "fee_notice_issued"  # pauses the clock (s.10(2))
    FEE_PAID = "fee_paid"
    EXTENSION_PIT = "extension_pit"  # FOIA s.10(3) public interest test
    EXTENSION_EIR = "extension_eir"  # EIR reg 7, to 40 working days, once
    EXTENSION_SAR = "extension_sar"  # UK GDPR Art 12(3), two further months
    INTERNAL_REVIEW_REQUESTED = "internal_review_requested"
    INTERNAL_REVIEW_COMPLETED = "internal_review_completed"
    COMPLAINT_LODGED = "complaint_lodged"  # ICO or SIC


class ClockEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ClockEventKind
    on: date
    #: For extensions: the estimated decision date the requester was told (s.17(2)).
    until: date | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _until_after_on(self) -> ClockEvent:
        if self.until is not None and self.until < self.on:
            raise ValueError(
                f"{self.kind.value}: 'until' ({self.until.isoformat()}) is before the event date "
                f"({self.on.isoformat()}); 'until' is the new decision date given to the requester"
            )
        return self


class ReviewOutcome(StrEnum):
    UPHELD = "upheld"
    UPHELD_IN_PART = "upheld_in_part"
    OVERTURNED = "overturned"
    WITHDRAWN = "withdrawn"


#: Plain ASCII addresses that the policy below surely accepts: intake's vectorised check and the model's fast path
#: (email-validator costs about 60 µs an address, a few seconds of a 100,000-case migration). Anything it refuses
#: gets the full policy. tests/test_email_policy.py checks both the subset and the normalised form.
PLAIN_EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}(?<!\.)@"
    # a label with "--" in its 3rd and 4th characters is reserved (IDNA: xn-- and friends): the full policy decides
    r"(?:(?![A-Za-z0-9]{2}--)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?!(?:test|invalid|localhost|local|onion|arpa)$)[A-Za-z]{2,63}$"
)
#: RFC 5321 s.4.5.3.1.3 via email-validator: no address over 254 characters.
_EMAIL_MAX = 254


def normalise_email(value: str) -> str:
    """The one email policy, used by the model and by intake: an address as RFC 5322 writes it or, per RFC 6531,
    internationalised (``jö@example.org``, ``j@exämple.org``): requests from such addresses are valid requests and
    Dataverse stores them as text. Refused: quoted local parts, a domain without a dot, special-use domains
    (``.test``, ``.invalid``, ``localhost``). No DNS lookup. Returns the normalised form (domain lower-cased).
    """
    if len(value) <= _EMAIL_MAX and PLAIN_EMAIL.fullmatch(value):
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"  # what email-validator returns for a plain ASCII address
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        # email-validator's messages describe the fault without repeating the address.
        raise ValueError(f"not a valid email address ({exc}); fix the address or leave it empty") from None


def is_valid_email(value: str) -> bool:
    """:func:`normalise_email` as a yes/no (intake's vectorised check falls back to it)."""
    try:
        normalise_email(value)
    except ValueError:
        return False
    return True


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


class Requester(BaseModel):
    """Who asked. Personal data: never logged, hashed in sync state, kept out of error messages."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    #: None when the request gave no name: triage makes a FOIA/FOISA request without one ``invalid`` (s.8(1)(b)).
    name: str | None = Field(default=None, max_length=160)
    email: str | None = None
    postal_address: str | None = Field(default=None, max_length=500)
    postcode: str | None = None
    organisation: str | None = Field(default=None, max_length=160)
    type: RequesterType = RequesterType.MEMBER_OF_PUBLIC

    @field_validator("email")
    @classmethod
    def _email_policy(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @field_validator("postcode")
    @classmethod
    def _normalise_postcode(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        compact = value.upper().replace(" ", "")
        match = _POSTCODE.match(f"{compact[:-3]} {compact[-3:]}")
        if not match:
            raise ValueError("not a UK postcode; write it like 'SW1A 1AA' or leave it empty")
        return f"{match.group(1)} {match.group(2)}"

    @property
    def has_address(self) -> bool:
        """An address for correspondence: an email or a postal address (FOIA/FOISA s.8(1)(b); ICO: email counts).

        Not a validation error: whether a request needs one depends on its regime (EIR/EISR and SAR do not), so
        triage decides (connector/intake/triage.py) and a request without one becomes an ``invalid`` case."""
        return bool(self.email or self.postal_address)


#: Normalised exemption codes: FOIA/FOISA sections "s40", "s40(2)", "s22A"; EIR/EISR regulations "reg12(4)(b)", "reg13".
EXEMPTION_PATTERN = re.compile(
    r"^(s\d{1,2}[A-Z]?(\(\d+[A-Za-z]?\))*(\([a-z]{1,3}\))*|reg\d{1,2}(\(\d+\))?(\([a-z]\))?)$"
)


class TriageOutcome(StrEnum):
    """What triage (connector/intake/triage.py) made of a request before any clock starts."""

    REQUEST = "request"  # a valid request under its regime: the statutory clock runs
    INVALID = "invalid"  # fails the regime's formal requirements (FOIA/FOISA s.8): stage ``invalid``, no clock
    BUSINESS_AS_USUAL = "business_as_usual"  # a service request or a question, not recorded information: re-routed


#: Why triage found a request invalid (``FoiCase.triage_reason``), in the words the CRM's triage status shows.
INVALID_REASONS: dict[str, str] = {
    "not_in_writing": "not in writing",  # FOIA/FOISA s.8(1)(a)
    "no_name": "no name given",  # s.8(1)(b)
    "no_real_name": "no real name (placeholder)",  # s.8(1)(b), ICO s.8 guidance
    "pseudonym": "obvious pseudonym",  # s.8(1)(b), ICO s.8 guidance
    "no_address": "no address for correspondence",  # s.8(1)(b)
    "no_description": "does not describe the information",  # s.8(1)(c)
    "identity_unknown": "requester not identified",  # SAR: UK GDPR Art 12(6)
}


class TriageOverride(StrEnum):
    """An officer's decision in the CRM, which every later triage follows (a CRM-owned field)."""

    AS_REQUEST = "as_request"  # a valid request, in the regime triage chose
    AS_FOI = "as_foi"  # a valid FOI request (FOISA for a Scottish council)
    AS_EIR = "as_eir"  # a valid EIR request (EISR for a Scottish council)
    AS_SAR = "as_sar"  # a valid subject access request
    AS_INVALID = "as_invalid"
    AS_BUSINESS_AS_USUAL = "as_business_as_usual"


class RelationKind(StrEnum):
    REPEAT = "repeat"  # same requester, substantially similar request (FOIA s.14(2))
    ROUND_ROBIN = "round_robin"  # near-identical text from many requesters / to many authorities
    AGGREGATION = "aggregation"  # same requester or campaign within 60 working days (cost limit)
    ANSWERED_BEFORE = "answered_before"  # an earlier request already answered the question


#: How each relation reads to an officer in the CRM (``related_requests``): one phrase per kind, defined once.
RELATION_WORDS: dict[RelationKind, str] = {
    RelationKind.REPEAT: "repeat of (same requester, substantially similar: consider FOIA s.14(2) / FOISA s.14(2))",
    RelationKind.ROUND_ROBIN: "round robin with (near-identical text from other requesters)",
    RelationKind.AGGREGATION: "may be aggregated with (cost limit, within 60 working days)",
    RelationKind.ANSWERED_BEFORE: "answered before in (consider s.21 / the disclosure log)",
}


class RelatedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str
    relation: RelationKind
    score: float = Field(ge=0.0, le=1.0)


class FoiCase(BaseModel):
    """One request for information, in any regime, from any channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=True)

    reference: str = Field(min_length=1, max_length=100)
    regime: Regime
    received_at: datetime
    channel: Channel
    requester: Requester
    subject: str = Field(min_length=1, max_length=200)
    request_text: str = Field(min_length=1, max_length=100_000)
    service_area: str | None = Field(default=None, max_length=100)
    assigned_team: str | None = Field(default=None, max_length=100)
    assigned_officer: str | None = Field(default=None, max_length=100)
    stage: Stage = Stage.RECEIVED
    clock_events: list[ClockEvent] = Field(default_factory=list)
    outcome: Outcome | None = None
    exemptions: list[str] = Field(default_factory=list)
    responded_at: datetime | None = None
    review_outcome: ReviewOutcome | None = None
    complaint_outcome: ReviewOutcome | None = None
    related: list[RelatedRequest] = Field(default_factory=list)
    #: Other arrivals of this same request (the same message to a second address or through a second channel),
    #: merged into this one case by intake: "source:row" of each, no requester data.
    other_arrivals: list[str] = Field(default_factory=list)
    #: Intake's priority grade ("P2 high") and why, carried on the case so a retried or re-planned case pushes the
    #: same grade and explanation as the run that graded it.
    grade: str | None = Field(default=None, max_length=40)
    grade_explanation: str | None = Field(default=None, max_length=4000)
    source_system: str = Field(default="manual", max_length=100)
    source_id: str | None = Field(default=None, max_length=200)
    #: WhatDoTheyKnow request id, from a request-NNN-xxxxxxxx@whatdotheyknow.com address.
    wdtk_request_id: int | None = None
    #: Triage (connector/intake/triage.py): the decision, its short reason code and the explanation pushed to the CRM.
    triage: TriageOutcome = TriageOutcome.REQUEST
    triage_reason: str | None = Field(default=None, max_length=100)
    triage_explanation: str | None = Field(default=None, max_length=4000)
    #: The officer's override, read back from the CRM; triage follows it on every later run.
    triage_override: TriageOverride | None = None
    #: Business as usual: the service's own words for the routing reply (from the triage rule that matched).
    routing_reply: str | None = Field(default=None, max_length=2500)
    #: Transfer notices: the authority that holds the information and how to reach it.
    transfer_to: str | None = Field(default=None, max_length=200)
    transfer_contact: str | None = Field(default=None, max_length=500)
    #: The officer's reasons for a refusal (exemptions, public interest), quoted in the refusal notices.
    decision_reasons: str | None = Field(default=None, max_length=20_000)

    @field_validator("received_at", "responded_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(
                "timestamp has no time zone; give an offset (e.g. 2025-03-31T23:30:00+00:00) "
                "or let the source mapping set timezone = 'Europe/London'"
            )
        return value

    @field_validator("received_at")
    @classmethod
    def _supported_year(cls, value: datetime) -> datetime:
        if value.tzinfo is not None and not (2000 <= value.astimezone(LONDON).year <= 2100):
            raise ValueError(
                f"year {value.astimezone(LONDON).year} is outside 2000-2100, the years the statutory calendars "
                "cover; check the date format (day and month swapped, two-digit year?)"
            )
        return value

    @field_validator("clock_events")
    @classmethod
    def _events_in_order(cls, value: list[ClockEvent], info: ValidationInfo) -> list[ClockEvent]:
        """Clock events a deadline can be computed from: none before receipt, no fee paid without a notice."""
        received_at = info.data.get("received_at")
        received = received_at.astimezone(LONDON).date() if received_at and received_at.tzinfo else None
        problems = []
        for i, event in enumerate(value):
            if received is not None and event.on < received:
                problems.append(
                    f"clock_events[{i}] ({event.kind.value} on {event.on.isoformat()}) is before the request was "
                    f"received ({received.isoformat()}); fix the event date or received_at"
                )
            if event.kind == ClockEventKind.FEE_PAID and not any(
                e.kind == ClockEventKind.FEE_NOTICE_ISSUED and e.on <= event.on for e in value
            ):
                problems.append(
                    f"clock_events[{i}] (fee_paid on {event.on.isoformat()}) has no fee_notice_issued event on or "
                    "before it; add the fees notice (the clock pauses from the notice to the payment)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def events(self, kind: ClockEventKind) -> list[ClockEvent]:
        """This case's clock events of one kind, oldest first."""
        return sorted((e for e in self.clock_events if e.kind == kind), key=lambda e: e.on)

    @field_validator("exemptions")
    @classmethod
    def _exemption_codes(cls, value: list[str]) -> list[str]:
        out = []
        for code in value:
            norm = code.replace(" ", "").replace("section", "s").replace("regulation", "reg")
            if not EXEMPTION_PATTERN.match(norm):
                raise ValueError(
                    f"'{code}' is not an exemption code; write FOIA/FOISA sections like 's40(2)' "
                    "and EIR/EISR regulations like 'reg12(5)(b)'"
                )
            out.append(norm)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> FoiCase:
        if self.responded_at is not None and self.responded_at < self.received_at:
            raise ValueError("responded_at is before received_at; check the two dates")
        return self

    @property
    def received_date(self) -> date:
        """The date of receipt: the calendar day in Europe/London (an email at 23:30 UTC in BST is the next day)."""
        return self.received_at.astimezone(LONDON).date()

    @property
    def responded_date(self) -> date | None:
        return self.responded_at.astimezone(LONDON).date() if self.responded_at else None

    @property
    def is_closed(self) -> bool:
        return self.stage in CLOSED_STAGES

    @property
    def scottish(self) -> bool:
        return self.regime in SCOTTISH_REGIMES


# ---------------------------------------------------------------------------------------- derived vocabularies

#: Requester fields as flat case columns (``requester_<x>``) -> the Requester field they fill.
REQUESTER_COLUMNS: dict[str, str] = {
    "requester_name": "name",
    "requester_email": "email",
    "requester_address": "postal_address",
    "requester_postcode": "postcode",
    "requester_organisation": "organisation",
    "requester_type": "type",
}

#: The flat case columns intake produces (one row per case), in FoiCase order with the requester flattened.
CASE_COLUMNS: tuple[str, ...] = (
    "reference",
    "regime",
    "received_at",
    "channel",
    *REQUESTER_COLUMNS,
    "subject",
    "request_text",
    "service_area",
    "assigned_team",
    "assigned_officer",
    "stage",
    "outcome",
    "responded_at",
    "exemptions",
    "wdtk_request_id",
    "source_system",
    "source_id",
)

#: Case columns a source register's column can feed: everything but ``source_system`` (the connector sets it
#: from the source's name), plus ``received_time`` for registers that keep the time in its own column.
SOURCE_FIELDS: tuple[str, ...] = tuple(
    name
    for col in CASE_COLUMNS
    if col != "source_system"
    for name in ((col, "received_time") if col == "received_at" else (col,))
)

#: Enumerated case columns and their vocabularies (source values are mapped onto these).
ENUM_COLUMNS: dict[str, type[StrEnum]] = {
    "regime": Regime,
    "channel": Channel,
    "requester_type": RequesterType,
    "stage": Stage,
    "outcome": Outcome,
}

#: Clock-event kind -> the dated case field it fills (the latest event of the kind wins) in the CRM and the
#: reporting store.
EVENT_DATE_FIELDS: dict[ClockEventKind, str] = {
    ClockEventKind.INTERNAL_REVIEW_REQUESTED: "review_requested_date",
    ClockEventKind.INTERNAL_REVIEW_COMPLETED: "review_completed_date",
    ClockEventKind.COMPLAINT_LODGED: "complaint_date",
    ClockEventKind.CLARIFICATION_REQUESTED: "clarification_requested_date",
    ClockEventKind.CLARIFICATION_RECEIVED: "clarification_received_date",
    ClockEventKind.FEE_NOTICE_ISSUED: "fee_notice_date",
    ClockEventKind.FEE_PAID: "fee_paid_date",
}
#: Extension clock events -> the extension kind the rules table names (connector.rules.Extension.kind).
EXTENSION_EVENTS: dict[ClockEventKind, str] = {
    ClockEventKind.EXTENSION_PIT: "pit",
    ClockEventKind.EXTENSION_EIR: "eir",
    ClockEventKind.EXTENSION_SAR: "sar",
}


def _check_vocabularies() -> None:
    """The flat columns name real FoiCase / Requester fields (so a rename fails at import, not in a report)."""
    case_fields = set(FoiCase.model_fields)
    for col in CASE_COLUMNS:
        if col not in case_fields and REQUESTER_COLUMNS.get(col) not in Requester.model_fields:
            raise RuntimeError(f"model.CASE_COLUMNS: '{col}' is not a FoiCase or Requester field")


_check_vocabularies()


#: Plain-English fixes for pydantic error types, used by :func:`case_errors`.
_FIXES = {
    "missing": "required; add a value",
    "string_too_short": "is empty; give a value",
    "string_too_long": "is too long; shorten it",
    "datetime_from_date_parsing": "is not a date-time; write it like 2025-03-31T09:15:00+01:00",
    "datetime_parsing": "is not a date-time; write it like 2025-03-31T09:15:00+01:00",
    "datetime_type": "is not a date-time; write it like 2025-03-31T09:15:00+01:00",
    "date_from_datetime_parsing": "is not a date; write it like 2025-03-31",
    "date_parsing": "is not a date; write it like 2025-03-31",
    "extra_forbidden": "is not a case field; check the spelling or remove it",
    "value_error": "",
}


def case_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each problem in a FoiCase validation error, never echoing the input value.

    Pydantic's own ``str(exc)`` prints the rejected input, which may be a requester's name, email or request
    text; intake rejects and logs use this instead.
    """
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "(case)"
        kind = err["type"]
        if kind == "enum":
            expected = (err.get("ctx") or {}).get("expected", "")
            message = f"is not one of the allowed values ({expected})"
        elif _FIXES.get(kind):
            message = _FIXES[kind]
        else:
            message = err["msg"].removeprefix("Value error, ")
        out.append((field, message))
    return out
