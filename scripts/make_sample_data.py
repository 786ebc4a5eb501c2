#!/usr/bin/env python3
"""Generate the synthetic sample sources intake reads (deterministic: same seed, same files).

    python3 scripts/make_sample_data.py            # writes samples/sample-register.csv, webforms/, mailbox/

Everything is made up: names come from short lists, emails are @example.org / @example.com, postcodes use the
EX area. Proportions follow published aggregates (see samples/README.md):

- EIR share of FOI+EIR requests: 20.1% (mySociety, "Freedom of Information in Local Government" 2019,
  total_fois_with_wdtk.csv, 44 councils reporting both; CC BY 4.0, mySociety).
- Share of council requests made through WhatDoTheyKnow: 6.5% (same dataset, wdtk_calendar / all).
- Share answered in time: 72.8%; granted in full: 48.3% of all requests (same dataset, 2017 figures).
- Split of the other outcomes (partially withheld 10.7 : withheld 24.6 : not held 19.3 : advice 7.3) from the
  Cabinet Office FOI statistics 2010-2020 annual rows (OGL v3.0, republished by mySociety/foi_monitor).
- Subject access share (7%) is an assumption: the datasets above do not count SARs.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SEED = 20261125
LONDON = ZoneInfo("Europe/London")
START = date(2025, 11, 3)
END = date(2026, 11, 24)

EIR_SHARE = 0.201
WDTK_SHARE = 0.065
SAR_SHARE = 0.07
GRANTED_SHARE = 0.483
OTHER_OUTCOMES = {"Part disclosure": 10.7, "Refused": 24.6, "Not held": 19.3, "Advice given": 7.3}

FIRST = [
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Ava",
    "Noah",
    "Mia",
    "Arthur",
    "Ivy",
    "Leo",
    "Freya",
    "Oscar",
    "Lily",
    "Harry",
    "Grace",
    "Jack",
    "Sofia",
    "Charlie",
    "Evie",
    "Thomas",
    "Rosie",
    "Jacob",
    "Ella",
    "Alfie",
    "Poppy",
    "Finley",
    "Willow",
    "Theo",
    "Daisy",
    "Henry",
    "Aisha",
    "Mohammed",
    "Priya",
    "Arjun",
    "Zara",
    "Ibrahim",
    "Chloe",
    "Ethan",
    "Niamh",
    "Callum",
    "Megan",
    "Rhys",
    "Eilidh",
    "Lewis",
    "Siobhan",
    "Declan",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Hughes",
    "Edwards",
    "Murphy",
    "Campbell",
    "Kelly",
    "Shah",
    "Ahmed",
    "Begum",
    "O'Neill",
    "McDonald",
    "Fraser",
    "Lloyd",
    "Price",
    "Bennett",
    "Chapman",
    "Hussain",
    "Ward",
    "Morgan",
]
STREETS = ["High Street", "Station Road", "Church Lane", "Mill Road", "Park Avenue", "Victoria Road", "The Green"]
TOWNS = ["Exampleton", "Sampleford", "Testbury", "Demo Wells"]
ORGS = ["Exampleton Gazette", "Sampleford Residents' Association", "Heirs & Co Genealogy", "Testbury Cycle Campaign"]

# (department label in the register or "" when left blank, regime, subject, request text). {y}=year, {n}=number.
TOPICS: list[tuple[str, str, str, str]] = [
    (
        "Waste Mgmt",
        "eir",
        "Fly-tipping incidents {y}",
        "Please provide the number of fly-tipping incidents reported to the council in {y}, broken down by month and ward, and the number of fixed penalty notices issued for fly-tipping.",
    ),
    (
        "Waste Mgmt",
        "eir",
        "Missed bin collections",
        "How many missed bin collections were reported in each of the last {n} years? How many were for recycling and how many for general household waste?",
    ),
    (
        "Plan & Build Control",
        "eir",
        "Planning enforcement backlog",
        "Please tell me how many planning enforcement cases were open on 1 April {y}, how many enforcement notices were served, and the average time to close a case.",
    ),
    (
        "Plan & Build Control",
        "eir",
        "Section 106 contributions",
        "Please provide a list of all section 106 agreements signed since {y}, the contributions due under each and the amounts received and spent.",
    ),
    (
        "Highways",
        "eir",
        "Potholes reported {y}",
        "How many potholes were reported on council roads in {y}, how many were repaired within 28 days, and how much was paid in compensation claims for pothole damage?",
    ),
    (
        "Env Svcs",
        "eir",
        "Air quality monitoring",
        "Please send the annual mean nitrogen dioxide readings for each air quality monitoring site for {y}, and any air quality action plan reports.",
    ),
    (
        "Env Svcs",
        "eir",
        "Noise complaints",
        "How many noise complaints did the council receive in {y}, how many noise abatement notices were served and how many prosecutions followed?",
    ),
    (
        "Housing Options",
        "foia",
        "Temporary accommodation costs",
        "Please state the number of households in temporary accommodation on the last day of each quarter of {y} and the total spent on bed and breakfast accommodation.",
    ),
    (
        "Housing Options",
        "foia",
        "Damp and mould reports",
        "How many reports of damp and mould in council or housing association homes were received in {y} and what was the average time to inspect?",
    ),
    (
        "ASC",
        "foia",
        "Care home fees",
        "Please provide the weekly fee rates paid to care homes for residential and nursing care in {y}/{y1}, and the number of placements made out of area.",
    ),
    (
        "CYPS",
        "foia",
        "EHCP assessments",
        "How many requests for an EHCP assessment were received in {y}, how many were completed within 20 weeks, and how many went to tribunal?",
    ),
    (
        "Revs & Bens",
        "foia",
        "Business rates credit balances",
        "Please provide a list of all business rates accounts with a credit balance, including the account holder name, property address and the amount of the credit.",
    ),
    (
        "Revs & Bens",
        "foia",
        "Council tax arrears",
        "How many council tax accounts were referred to enforcement agents in {y}, and what was the total value of arrears collected?",
    ),
    (
        "Finance",
        "foia",
        "Spending on consultants",
        "Please provide the total amount spent on external consultants in each of the last {n} financial years, with the name of each supplier and the value of each contract over £5,000.",
    ),
    (
        "Finance",
        "foia",
        "Purchase card transactions",
        "Please send a list of all purchase card transactions over £500 made in {y}, including the merchant, amount and service.",
    ),
    (
        "HR",
        "foia",
        "Agency staff spending",
        "How much did the council spend on agency staff in {y}, how many agency workers were engaged on 31 March {y}, and which agencies were used?",
    ),
    (
        "HR",
        "foia",
        "Sickness absence",
        "Please provide the average number of days lost to sickness absence per employee for {y}, and the three most common reasons recorded.",
    ),
    (
        "IT",
        "foia",
        "IT systems and contracts",
        "Please list the council's main IT systems (finance, HR, revenues, CRM), the supplier of each, the contract end date and the annual licence cost.",
    ),
    (
        "IT",
        "foia",
        "Cyber security incidents",
        "How many cyber security incidents, including ransomware attacks, did the council record in {y}, and did any lead to a data breach being reported to the ICO?",
    ),
    (
        "",
        "foia",
        "Public health funerals",
        "Please provide a list of all public health funerals (section 46 National Assistance Act) conducted since 1 January {y}, with the name of the deceased, date of death, and whether the estate was referred to the Government Legal Department.",
    ),
    (
        "",
        "foia",
        "Parking penalty charge notices",
        "How many penalty charge notices were issued in each council car park in {y}, and how much income did parking enforcement raise?",
    ),
    (
        "",
        "foia",
        "Taxi licensing",
        "How many hackney carriage and private hire driver licences were granted, refused and revoked in {y}?",
    ),
    (
        "",
        "eir",
        "Tree felling on council land",
        "Please provide the number of trees felled on council land in {y}, the reasons recorded, and the number of replacement trees planted.",
    ),
]
#: Further questions per topic (by subject), so two requests on one topic are alike but rarely identical.
MORE: dict[str, list[str]] = {
    "Fly-tipping incidents {y}": [
        "What did the council spend on clearing fly-tipping in {y}?",
        "How many fly-tipping prosecutions were brought since {y}?",
    ],
    "Missed bin collections": [
        "How many refuse collection vehicles does the council operate and how old are they?",
        "What is the target for collecting a missed bin?",
    ],
    "Planning enforcement backlog": [
        "How many planning enforcement officers were employed in {y}?",
        "How many breach of condition notices were issued since {y}?",
    ],
    "Section 106 contributions": [
        "How much section 106 money is unspent and at risk of being returned?",
        "Which affordable housing contributions were renegotiated since {y}?",
    ],
    "Potholes reported {y}": [
        "What was the highways maintenance budget for {y}?",
        "How many road defects were found by routine inspection rather than reported?",
    ],
    "Air quality monitoring": [
        "Which air quality management areas are in force and when were they declared?",
        "How many diffusion tubes did the council operate in {y}?",
    ],
    "Noise complaints": [
        "How many noise complaints were about licensed premises?",
        "How many out-of-hours noise visits were made in {y}?",
    ],
    "Temporary accommodation costs": [
        "How many families with children stayed in bed and breakfast for more than six weeks in {y}?",
        "How many temporary accommodation placements were outside the borough?",
    ],
    "Damp and mould reports": [
        "How many category 1 damp hazards were found under HHSRS in {y}?",
        "How many improvement notices for damp were served on private landlords?",
    ],
    "Care home fees": [
        "How many care homes in the area closed since {y}?",
        "What was the average hourly rate for domiciliary care in {y}?",
    ],
    "EHCP assessments": [
        "How many children with an EHCP are waiting for a school place?",
        "What was spent on SEND tribunal legal costs in {y}?",
    ],
    "Business rates credit balances": [
        "How many credit balances were written off in {y}?",
        "What is the total value of credit balances over six years old?",
    ],
    "Council tax arrears": [
        "How many committal hearings for council tax debt were held since {y}?",
        "How many liability orders were obtained in {y}?",
    ],
    "Spending on consultants": [
        "Which consultancy contracts were awarded without competition since {y}?",
        "What was the largest single consultancy contract in {y}?",
    ],
    "Purchase card transactions": [
        "How many purchase cards does the council issue to staff?",
        "What were the ten largest purchase card transactions in {y}?",
    ],
    "Agency staff spending": [
        "What was the longest continuous agency assignment in {y}?",
        "How many agency social workers were engaged in {y}?",
    ],
    "Sickness absence": [
        "How many staff had more than 20 days of sickness absence in {y}?",
        "How many days were lost to stress-related absence in {y}?",
    ],
    "IT systems and contracts": [
        "Which IT contracts are due for renewal in the next two years?",
        "Who is the council's telephony provider and when does the contract end?",
    ],
    "Cyber security incidents": [
        "How much does the council spend on cyber security each year?",
        "Has the council paid any ransom since {y}?",
    ],
    "Public health funerals": [
        "How much did the council spend on public health funerals in {y}?",
        "How many public health funerals were recovered from estates in {y}?",
    ],
    "Parking penalty charge notices": [
        "How many penalty charge notices were cancelled on appeal in {y}?",
        "How many civil enforcement officers does the council employ?",
    ],
    "Taxi licensing": [
        "How many taxi driver licence applications were refused because of criminal records in {y}?",
        "How many wheelchair accessible hackney carriages are licensed?",
    ],
    "Tree felling on council land": [
        "How many tree preservation orders were made in {y}?",
        "How many applications to fell protected trees were refused since {y}?",
    ],
}
OPENERS = [
    "",
    "Under the Freedom of Information Act, ",
    "Please could you tell me: ",
    "I would like to know the following. ",
    "Dear FOI team, ",
]

SAR_TEXTS = [
    "Under the UK GDPR I am asking for copies of all personal data you hold about me, including my housing file and any emails that mention me.",
    "Please send me a copy of my personal information held by the council tax team, including notes of phone calls, for the period {y} to date.",
    "I would like a copy of my social care records and any information the council holds about me.",
]
ROUND_ROBIN_TEXT = (
    "Please provide the following information for the financial year {y}/{y1}: 1. The total amount spent on "
    "consultants for digital transformation projects. 2. The names of the suppliers used. 3. Whether any of these "
    "contracts were awarded without competition. I am sending this request to every council in England."
)


def _when(rng: random.Random, day: date) -> datetime:
    """A plausible arrival time: mostly office hours, some evenings and a few small hours."""
    hour = rng.choices([rng.randint(8, 17), rng.randint(18, 23), rng.randint(0, 7)], weights=[80, 15, 5])[0]
    return datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), tzinfo=LONDON)


def _person(rng: random.Random) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    domain = rng.choice(["example.org", "example.com"])
    local = f"{first}.{last}".lower().replace("'", "")
    return {
        "name": f"{first} {last}",
        "email": f"{local}{rng.randint(1, 99)}@{domain}",
        "address": f"{rng.randint(1, 180)} {rng.choice(STREETS)}",
        "town": rng.choice(TOWNS),
        "postcode": f"EX{rng.randint(1, 39)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
    }


def _wdtk_email(rng: random.Random) -> tuple[int, str]:
    rid = rng.randint(900000, 999999)
    return rid, f"request-{rid}-{rng.getrandbits(32):08x}@whatdotheyknow.com"


def _outcome(rng: random.Random) -> str:
    if rng.random() < GRANTED_SHARE:
        return "Full disclosure"
    return rng.choices(list(OTHER_OUTCOMES), weights=list(OTHER_OUTCOMES.values()))[0]


def register_rows(rng: random.Random, n: int = 285) -> list[dict[str, str]]:
    days = (END - START).days
    rows: list[dict[str, str]] = []
    eir_topics = [t for t in TOPICS if t[1] == "eir"]
    foi_topics = [t for t in TOPICS if t[1] == "foia"]
    for i in range(n):
        day = START + timedelta(days=int(days * i / n) + rng.randint(0, 2))
        when = _when(rng, min(day, END))
        p = _person(rng)
        roll = rng.random()
        if roll < SAR_SHARE:
            dept, regime, subject, text = "", "sar", "Subject access request", rng.choice(SAR_TEXTS)
        else:
            dept, regime, subject, text = rng.choice(eir_topics if rng.random() < EIR_SHARE else foi_topics)
        y = rng.choice([2021, 2022, 2023, 2024, 2025])
        if regime != "sar":
            more = MORE.get(subject, [])
            parts = rng.choice([[text], [text, *more[:1]], [*more[:1]], [*more[1:2]], [text, *more[1:2]], more])
            text = rng.choice(OPENERS) + " ".join(parts or [text])
        subject = subject.format(y=y, y1=y + 1, n=rng.randint(2, 5))
        text = text.format(y=y, y1=y + 1, n=rng.randint(2, 5))
        rtype = {
            "eir": rng.choice(["EIR", "Env Info", "EIR", "Environmental"]),
            "foia": rng.choice(["FOI", "FOI", "foi", "Freedom of Information"]),
            "sar": rng.choice(["SAR", "Subject Access", "SAR (GDPR)"]),
        }[regime]
        if rng.random() < 0.06:
            rtype = ""  # blank type: intake decides from the wording
        channel = rng.choices(["Email", "Online form", "Letter", "WDTK"], weights=[62, 25, 6.5, 100 * WDTK_SHARE])[0]
        email = p["email"]
        if channel == "WDTK":
            _, email = _wdtk_email(rng)
        if regime == "sar":
            channel = rng.choice(["Email", "Online form", "Letter"])
        age = (END - when.date()).days
        closed = age > 35 or (age > 12 and rng.random() < 0.5)
        responded = ""
        outcome = exemptions = ""
        status = rng.choice(["Open", "Open", "Awaiting clarification"]) if not closed else "Closed"
        if closed:
            late = rng.random() > 0.728
            resp_day = when.date() + timedelta(days=rng.randint(30, 45) if late else rng.randint(3, 27))
            responded = min(resp_day, END).strftime("%d/%m/%Y")
            outcome = _outcome(rng)
            if outcome in ("Part disclosure", "Refused"):
                exemptions = rng.choice(
                    ["s40(2)", "Section 43(2)", "s31(1)(a)", "s40(2); s43(2)", "s21", "reg 13", "s12"]
                )
                if regime == "eir":
                    exemptions = rng.choice(["reg 13", "Regulation 12(5)(e)", "reg12(4)(b)"])
            if outcome == "Advice given":
                outcome = ""  # the old log had no column for it
        letter = channel == "Letter"
        rows.append(
            {
                "Ref No": f"FOI/{when.year}/{i + 1:04d}",
                "Date Received": when.strftime("%d/%m/%Y"),
                "Time Received": when.strftime("%H:%M"),
                "Request Type": rtype,
                "Received Via": channel,
                "Requester Name": p["name"] if rng.random() > 0.05 else p["name"].upper(),
                "Email": "" if letter else email,
                "Address": p["address"] if letter or rng.random() < 0.3 else "",
                "Town": p["town"] if letter else "",
                "Postcode": p["postcode"] if letter or rng.random() < 0.3 else "",
                "Organisation": rng.choice(ORGS) if rng.random() < 0.08 else "",
                "Requester Type": rng.choice(
                    ["Public", "Public", "Public", "Press", "Business", "Campaign", "Councillor"]
                ),
                "Subject": subject,
                "Request Details": text,
                "Department": dept if dept and rng.random() < 0.7 else "",
                "Status": status,
                "Date Responded": responded,
                "Outcome": outcome,
                "Exemptions Applied": exemptions,
                "Officer": rng.choice(["", "A. Officer", "B. Caseworker", "C. Analyst"]),
            }
        )
    return rows


def _base(rng: random.Random, ref: str, when: datetime, **over: str) -> dict[str, str]:
    p = _person(rng)
    row = {
        "Ref No": ref,
        "Date Received": when.strftime("%d/%m/%Y"),
        "Time Received": when.strftime("%H:%M"),
        "Request Type": "FOI",
        "Received Via": "Email",
        "Requester Name": p["name"],
        "Email": p["email"],
        "Address": "",
        "Town": "",
        "Postcode": "",
        "Organisation": "",
        "Requester Type": "Public",
        "Subject": "",
        "Request Details": "",
        "Department": "",
        "Status": "Open",
        "Date Responded": "",
        "Outcome": "",
        "Exemptions Applied": "",
        "Officer": "",
    }
    row.update(over)
    return row


def special_rows(rng: random.Random) -> list[dict[str, str]]:
    """Rows that exercise cross-referencing and the rejects report (each one explained in samples/README.md)."""
    out: list[dict[str, str]] = []
    t = lambda d, h=10, m=0: datetime(d.year, d.month, d.day, h, m, tzinfo=LONDON)  # noqa: E731
    # Two repeats: the same requester asks the same thing again within the window.
    for k, (first_day, again_day) in enumerate(
        [(date(2026, 9, 14), date(2026, 10, 19)), (date(2026, 10, 1), date(2026, 11, 2))]
    ):
        p = _person(rng)
        _dept, _, subject, text = TOPICS[14 + k * 3]
        text = text.format(y=2025, y1=2026, n=3)
        subject = subject.format(y=2025)
        common = {"Requester Name": p["name"], "Email": p["email"], "Subject": subject}
        out.append(
            _base(
                rng,
                f"FOI/2026/R{k}A",
                t(first_day),
                **common,
                **{
                    "Request Details": text,
                    "Status": "Closed",
                    "Date Responded": (first_day + timedelta(days=18)).strftime("%d/%m/%Y"),
                    "Outcome": "Full disclosure",
                },
            )
        )
        out.append(
            _base(rng, f"FOI/2026/R{k}B", t(again_day, 15, 5), **common, **{"Request Details": "Again: " + text})
        )
    # One requester, two related requests a month apart: aggregation candidates for the cost limit.
    p = _person(rng)
    out.append(
        _base(
            rng,
            "FOI/2026/AG1",
            t(date(2026, 10, 5)),
            **{
                "Requester Name": p["name"],
                "Email": p["email"],
                "Subject": "Consultants spending 2025",
                "Request Details": "Please provide the total amount spent on external consultants in 2025 with the name of each supplier and the value of each contract.",
            },
        )
    )
    out.append(
        _base(
            rng,
            "FOI/2026/AG2",
            t(date(2026, 11, 9)),
            **{
                "Requester Name": p["name"],
                "Email": p["email"],
                "Subject": "Consultants contracts awarded without competition",
                "Request Details": "For the consultants contracts you hold for 2025, which were awarded without competition, and what was the value of each contract and the name of each supplier?",
            },
        )
    )
    # A WhatDoTheyKnow round robin: near-identical text from five different requesters on the same days.
    for k in range(5):
        p = _person(rng)
        _rid, addr = _wdtk_email(rng)
        text = ROUND_ROBIN_TEXT.format(y=2025, y1=2026)
        out.append(
            _base(
                rng,
                f"FOI/2026/RR{k + 1}",
                t(date(2026, 11, 16 + k % 2), 9 + k, 12),
                **{
                    "Requester Name": p["name"],
                    "Email": addr,
                    "Received Via": "WDTK",
                    "Subject": "Digital transformation consultants",
                    "Request Details": text,
                },
            )
        )
    # Public health funerals: the same question from different requesters; the first was answered.
    phf = TOPICS[19][3].format(y=2024)
    out.append(
        _base(
            rng,
            "FOI/2026/PHF1",
            t(date(2026, 6, 8)),
            **{
                "Subject": "Public health funerals",
                "Request Details": phf,
                "Organisation": "Heirs & Co Genealogy",
                "Requester Type": "Business",
                "Status": "Closed",
                "Date Responded": "22/06/2026",
                "Outcome": "Part disclosure",
                "Exemptions Applied": "s40(2)",
            },
        )
    )
    out.append(
        _base(
            rng,
            "FOI/2026/PHF2",
            t(date(2026, 11, 10)),
            **{
                "Subject": "Public health funerals list",
                "Request Details": phf.replace("Please provide", "Could you send"),
                "Requester Type": "Business",
            },
        )
    )
    # Messy rows the rejects report must explain.
    bad = [
        ("FOI/2026/X01", {"Date Received": "31/02/2026"}),  # impossible date
        ("FOI/2026/X02", {"Date Received": "next Tuesday"}),  # not a date
        ("FOI/2026/X03", {"Requester Name": ""}),  # missing requester
        ("FOI/2026/X04", {"Requester Name": "Anonymous"}),  # placeholder name
        ("FOI/2026/X05", {"Email": "jo.bloggs@example", "Address": ""}),  # no usable address
        ("FOI/2026/X06", {"Request Type": "Misc"}),  # unknown type
        ("FOI/2026/X07", {"Date Received": "14/12/2027"}),  # future
        ("FOI/2026/X08", {"Postcode": "EXAMPLE"}),  # not a postcode
        ("FOI/2026/X09", {"Request Details": "", "Subject": ""}),  # no request
        (
            "FOI/2026/X10",
            {"Status": "Closed", "Date Responded": "01/01/2026", "Outcome": "Full disclosure"},
        ),  # responded before received
        (
            "FOI/2026/X11",
            {
                "Status": "Closed",
                "Date Responded": "20/10/2026",
                "Outcome": "Refused",
                "Exemptions Applied": "confidential",
            },
        ),
        ("FOI/2025/0005", {}),  # duplicates a reference used earlier in the file
    ]
    for ref, over in bad:
        _dept, _, subject, text = rng.choice(TOPICS)
        base = {"Subject": subject.format(y=2025), "Request Details": text.format(y=2025, y1=2026, n=3)}
        base.update(over)
        out.append(_base(rng, ref, t(date(2026, 10, 12), 11), **base))
    return out


def write_register(rng: random.Random) -> Path:
    rows = register_rows(rng) + special_rows(rng)
    rows.sort(
        key=lambda r: (
            datetime.strptime(r["Date Received"], "%d/%m/%Y")
            if r["Date Received"][:2].isdigit() and r["Date Received"] != "31/02/2026"
            else datetime(2026, 10, 12)
        )
    )
    fields = list(rows[0])
    path = SAMPLES / "sample-register.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:  # Excel's "CSV UTF-8" (with BOM)
        fh.write("Example Borough Council - FOI / EIR / SAR request log\r\n")
        fh.write("Exported 25/11/2026 from FOI log.xlsx\r\n\r\n")
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\r\n")
        writer.writeheader()
        for k, row in enumerate(rows):
            writer.writerow(row)
            if k in (40, 41, 180):
                fh.write(",,,,,,,,,,,,,,,,,,,\r\n")  # blank rows left in the export
    return path


def write_webforms(rng: random.Random) -> Path:
    folder = SAMPLES / "webforms"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    forms = [
        (
            "Freedom of Information",
            "Gritting routes",
            "Please send a map or list of the priority gritting routes for winter {y}/{y1} and the number of grit bins.",
        ),
        (
            "Environmental information",
            "Flood defence works",
            "What flood defence or drainage works has the council carried out on the river at Sampleford since {y}?",
        ),
        (
            "My personal information",
            "My council tax records",
            "Please send me all the information you hold about me on my council tax account, including notes of calls.",
        ),
        (
            "Not sure",
            "Street lighting",
            "How many street lights were converted to LED in {y} and what was the energy saving?",
        ),
        ("Freedom of Information", "", "How many residents' parking permits were issued in each zone in {y}?"),
    ]
    for k, (kind, subject, details) in enumerate(forms, start=1):
        p = _person(rng)
        first, last = p["name"].split(" ", 1)
        when = datetime(2026, 11, 18 + k % 4, 7 + 3 * k, 5 * k, tzinfo=LONDON)
        data = {
            "submission_id": f"WF-2026-{100 + k:06d}",
            "submitted_at": when.isoformat(),
            "form": "foi-request-v3",
            "applicant": {
                "first_name": first,
                "last_name": last,
                "email": p["email"],
                "address": {"line1": p["address"], "town": p["town"], "postcode": p["postcode"]},
            },
            "request": {"type": kind, "subject": subject, "details": details.format(y=2025, y1=2026)},
        }
        (folder / f"submission-{100 + k}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    # A submission with no name (the form's validation was switched off for a day) and a truncated upload.
    p = _person(rng)
    nameless = {
        "submission_id": "WF-2026-000199",
        "submitted_at": "2026-11-21T16:40:00+00:00",
        "applicant": {"first_name": "", "last_name": "", "email": p["email"], "address": {}},
        "request": {
            "type": "Freedom of Information",
            "subject": "Library opening hours",
            "details": "What were the opening hours of each library in 2025?",
        },
    }
    (folder / "submission-199.json").write_text(json.dumps(nameless, indent=2) + "\n", encoding="utf-8")
    (folder / "submission-200.json").write_text(
        '{"submission_id": "WF-2026-000200", "submitted_at": "2026-11-22T09:', encoding="utf-8"
    )
    return folder


def _eml(headers: dict[str, str], body: str) -> str:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        head
        + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.replace("\n", "\r\n")
    )


def write_mailbox(rng: random.Random) -> Path:
    folder = SAMPLES / "mailbox"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    council = "Example Borough Council"
    rid, addr = _wdtk_email(rng)
    wdtk_name = _person(rng)["name"]
    wdtk_body = (
        f"Dear {council},\n\nPlease provide the following information about public toilets:\n"
        "1. How many public toilets the council operated on 1 April 2025.\n2. How many have closed since 2020.\n"
        "3. The annual cleaning contract cost.\n\nYours faithfully,\n\n"
        f"{wdtk_name}\n\n-------------------------------------------------------------------\n\n"
        f"Please use this email address for all replies to this request:\n{addr}\n\n"
        f"Is foi@example.gov.uk the wrong address for Freedom of Information requests to {council}? If so, please contact us using this form:\n"
        "https://www.whatdotheyknow.com/change_request/new?body=example_borough_council\n\n"
        "Disclaimer: This message and any reply that you make will be published on the internet. Our privacy and copyright policies:\n"
        "https://www.whatdotheyknow.com/help/officers\n\n-------------------------------------------------------------------\n"
    )
    messages = {
        "01-whatdotheyknow.eml": _eml(
            {
                "Received": "from mx.whatdotheyknow.com by mail.example.gov.uk; Sun, 22 Nov 2026 23:41:07 +0000",
                "From": f"{wdtk_name} <{addr}>",
                "To": f"FOI requests at {council} <foi@example.gov.uk>",
                "Subject": "Freedom of Information request - Public toilets",
                "Date": "Sun, 22 Nov 2026 23:40:58 +0000",
                "Message-ID": f"<foi-request-{rid}-abc@whatdotheyknow.com>",
            },
            wdtk_body,
        )
    }
    p = _person(rng)
    authorities = ", ".join(
        f"foi@{c}.gov.uk" for c in ("example", "sampleford", "testbury", "demo-wells", "otherplace")
    )
    messages["02-round-robin-to-many-councils.eml"] = _eml(
        {
            "Received": "from smtp.example.com by mail.example.gov.uk; Mon, 23 Nov 2026 08:02:11 +0000",
            "From": f"{p['name']} <{p['email']}>",
            "To": authorities,
            "Subject": "FOI request: digital transformation consultants",
            "Date": "Mon, 23 Nov 2026 08:02:00 +0000",
            "Message-ID": "<rr-20261123-0802@example.com>",
        },
        ROUND_ROBIN_TEXT.format(y=2025, y1=2026) + f"\n\nRegards,\n{p['name']}\n",
    )
    p = _person(rng)
    messages["03-subject-access.eml"] = _eml(
        {
            "Received": "from smtp.example.org by mail.example.gov.uk; Tue, 24 Nov 2026 12:15:00 +0000",
            "From": f"{p['name']} <{p['email']}>",
            "To": "foi@example.gov.uk",
            "Subject": "Request for my records",
            "Date": "Tue, 24 Nov 2026 12:14:41 +0000",
            "Message-ID": "<sar-20261124@example.org>",
        },
        "Hello,\n\nPlease send me copies of all the personal data the council holds about me, including my housing file.\n\n"
        f"{p['name']}\n{p['address']}, {p['town']} {p['postcode']}\n",
    )
    p = _person(rng)
    messages["04-no-sender-name.eml"] = _eml(
        {
            "Received": "from smtp.example.com by mail.example.gov.uk; Tue, 24 Nov 2026 18:30:00 +0000",
            "From": p["email"],
            "To": "foi@example.gov.uk",
            "Subject": "Allotments",
            "Date": "Tue, 24 Nov 2026 18:29:40 +0000",
            "Message-ID": "<allot-20261124@example.com>",
        },
        "How many people are on the waiting list for an allotment at each site?\n",
    )
    for name, text in messages.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def main() -> None:
    rng = random.Random(SEED)
    SAMPLES.mkdir(exist_ok=True)
    print("wrote", write_register(rng).relative_to(ROOT))
    print("wrote", write_webforms(rng).relative_to(ROOT))
    print("wrote", write_mailbox(rng).relative_to(ROOT))


if __name__ == "__main__":
    main()
