"""Reporting categories and their exact wording.

Column names follow the Cabinet Office "Freedom of Information statistics" published CSV verbatim (including its
double spaces, e.g. "Initial Outcome  Partially withheld"); Scottish names follow the Scottish Information
Commissioner's statistics portal. Sources: data republished by mySociety in ``mysociety/foi_monitor``
(resources/cabinetfoi/, resources/foisa/); see docs/reports.md.
"""

from __future__ import annotations

import re

from connector import rules

# -- volumes / status (Cabinet Office) ------------------------------------------------------------
TOTAL = "Total requests received"
PROCESSED = "Requests Processed"
ON_HOLD = "Requests on-hold or lapsed"
STILL_PROCESSING = "Requests still being processed"
EIR_HANDLED = "Requests handled under EIRs"
TOTAL_EXCL = "Total requests received (excluding on-hold and lapsed)"

# -- timeliness (Cabinet Office) -------------------------------------------------------------------
MET = "20-day deadline met"
EXTENDED = "Permitted extension to 20-day deadline"
LATE = "Late response (i.e. 20-day deadline missed)"
PCT_MET = "Percentage of requests meeting 20-day deadline"
PCT_IN_TIME = 'Percentage of requests "in time" (i.e. meeting deadline or with permitted extension)'
# foi-sync additions (live data has cases whose deadline has not passed yet):
NOT_YET_DUE = "Response not yet due"
ICO_FLAG = "Meets ICO 90% threshold"
ICO_THRESHOLD = 90.0

# -- initial outcomes (Cabinet Office) ---------------------------------------------------------------
ADVICE = "Requests where advice and assistance provided"
NOT_HELD = "Requests where information not held"
RESOLVABLE = 'Total "resolvable" requests'
GRANTED = "Initial Outcome Granted in full"
PARTIAL = "Initial Outcome  Partially withheld"
WITHHELD = "Initial Outcome  Fully withheld"
NOT_YET_PROVIDED = "Initial Outcome Response not yet provided"
OUTCOME_NOT_RECORDED = "Outcome not recorded"  # foi-sync addition: responded but no outcome in the CRM
PCT_GRANTED = "Percentage of resolvable requests granted in full"
PCT_WITHHELD = "Percentage of resolvable requests withheld in full"
REFUSED_VEXATIOUS = "Fully refused - vexatious"
REFUSED_REPEATED = "Fully refused - repeated"
REFUSED_COST = "Fully refused - cost limit"
REFUSED_EXEMPTION = "Fully refused - exemption"

# -- exemptions (Cabinet Office) ------------------------------------------------------------------------
TOTAL_EXEMPTIONS = "Total exemptions and exceptions applied"
REQUESTS_WITH_EXEMPTION = "Number of requests where an exemption was claimed"
S21_TOTAL = "Total Section 21 exemptions used"
S21_PARTLY = "S21 Partly Exempt"
S21_FULLY = "S21 Fully Exempt"
S21_MET = "S21 20-day deadline met"
S21_LATE = "S21 Late response (i.e. 20-day deadline missed)"

#: FOIA section -> Cabinet Office column (no S(25); S(21) is counted separately).
FOIA_EXEMPTIONS: dict[str, str] = {
    "22": "S(22) - Information intended for future publication",
    "22A": "S(22A) - Research intended for future publication",
    "23": "S(23) - Information supplied by, or relating to, bodies dealing with security matters",
    "24": "S(24) - National security",
    "26": "S(26) - Defence",
    "27": "S(27) - International relations",
    "28": "S(28) - Relations within the United Kingdom",
    "29": "S(29) - The economy",
    "30": "S(30) - Investigations and proceedings conducted by public authorities",
    "31": "S(31) - Law enforcement",
    "32": "S(32) - Court records, etc",
    "33": "S(33) - Audit functions",
    "34": "S(34) - Parliamentary privilege",
    "35": "S(35) - Formulation of Government policy, etc",
    "36": "S(36) - Prejudice to effective conduct of public affairs",
    "37": "S(37) - Communications with Her Majesty, etc and honours",
    "38": "S(38) - Health and Safety",
    "39": "S(39) - Environmental information",
    "40": "S(40) - Personal information",
    "41": "S(41) - Information provided in confidence",
    "42": "S(42) - Legal professional privilege",
    "43": "S(43) - Commercial interests",
    "44": "S(44) - Prohibitions on disclosure",
}
#: EIR regulation 12 paragraph -> Cabinet Office column. Reg 12(3) and reg 13 are "3(a)".
EIR_EXCEPTIONS: dict[str, str] = {
    "3(a)": "3(a) - Exempt personal data",
    "4(a)": "4(a) - Information not held",
    "4(b)": "4(b) - Manifestly unreasonable",
    "4(c)": "4(c) - Too general",
    "4(d)": "4(d) - Work in progress / incomplete data",
    "4(e)": "4(e) - Internal communications",
    "5(a)": "5(a) - Adverse effect on international relations, defence, national security, public safety",
    "5(b)": "5(b) - Adverse effect on course of justice or conduct of enquiries",
    "5(c)": "5(c) - Adverse effect on intellectual property rights",
    "5(d)": "5(d) - Impinges on confidentiality of a public authority's work",
    "5(e)": "5(e) - Impinges on confidentiality of commercial or industrial information",
    "5(f)": "5(f) - Adverse effect on interests of person who provided the information",
    "5(g)": "5(g) - Adverse effect on protection of environment to which information relates",
}
#: FOISA section / EISR regulation -> Scottish Information Commissioner column (from its column lookup).
FOISA_EXEMPTIONS: dict[str, str] = {
    "25(1)": "Otherwise accessible",
    "25(3)": "Publication Scheme",
    "26(a)": "Disclosure prohibited: enactment",
    "26(b)": "Disclosure prohibited: EU obligation",
    "26(c)": "Disclosure prohibited: Contempt of Court",
    "27(1)": "Future publication: 12 weeks",
    "27(2)": "Future publication: programme of research",
    "28": "Substantial prejudice to UK relations",
    "29(1)(a)": "Formulation/development of government policy",
    "29(1)(b)": "Ministerial communications",
    "29(1)(c)": "Advice by Law Officers",
    "29(1)(d)": "Operation of Ministerial private office",
    "30(a)": "Substantial prejudice to collective responsibility of Scottish Ministers",
    "30(b)(i)": "Substantial inhibition to free and frank provision of advice",
    "30(b)(ii)": "Substantial inhibition to free and frank exchange of views",
    "30(c)": "Substantial prejudice to effective conduct of public affairs",
    "31(1)": "National security",
    "31(4)": "Substantial prejudice to defence",
    "32(1)(a)": "Substantial prejudice to international relations",
    "32(1)(b)": "Confidential information obtained from abroad",
    "33(1)(a)": "Trade secret",
    "33(1)(b)": "Substantial prejudice to commercial interests",
    "33(2)(a)": "Substantial prejudice to the economic interests of the UK",
    "33(2)(b)": "Substantial prejudice to the financial interests of a UK administration",
    "34(1)": "Information held for the purposes of a criminal investigation",
    "34(2)(a)": "Information held for ongoing Fatal Accident Inquiry",
    "34(2)(b)": "Information held regarding cause of death",
    "34(3)": "Information relating to the obtaining of information from confidential sources",
    "34(4)": "Information held for purposes of civil proceedings arising out of investigations",
    "35(1)(a)": "Substantial prejudice to prevention or detection of crime",
    "35(1)(b)": "Substantial prejudice to apprehension or prosecution of offenders",
    "35(1)(c)": "Substantial prejudice to administration of justice",
    "35(1)(d)": "Substantial prejudice to assessment or collection of tax or duty",
    "35(1)(e)": "Substantial prejudice to operation of immigration controls",
    "35(1)(f)": "Substantial prejudice to maintenance of security and good order in prisons",
    "35(1)(g)": "Substantial prejudice to the exercise by a public authority for any of its functions",
    "35(1)(h)": "Substantial prejudice to civil proceedings brought by an authority",
    "36(1)": "Confidentiality of communications",
    "36(2)": "Actionable breach of confidence",
    "37(1)(a)": "Court records",
    "37(1)(b)": "Court records: inquiry or arbitration",
    "38(1)(a)": "Personal data of the applicant - FOI",
    "38(1)(b)": "Third party personal data - FOI",
    "38(1)(c)": "Personal census information",
    "38(1)(d)": "Deceased person's health record",
    "39(1)": "Endangerment to health or safety",
    "39(2)": "Environmental information",
    "40": "Substantial prejudice to audit function",
    "41": "Communications with the Royal Family and honours",
}
EISR_EXCEPTIONS: dict[str, str] = {
    "10(4)(d)": "Material in course of completion",
    "10(4)(e)": "Internal Communications",
    "10(5)(a)": "Substantial prejudice to international relations public safety etc.",
    "10(5)(b)": "Substantial prejudice to course of justice etc.",
    "10(5)(c)": "Substantial prejudice to intellectual property rights",
    "10(5)(d)": "Substantial prejudice to confidentiality of proceedings",
    "10(5)(e)": "Substantial prejudice to confidentiality of commercial or industrial information",
    "10(5)(f)": "Substantial prejudice to the interests of a third party",
    "10(5)(g)": "Substantial prejudice to the protection of the environment",
    "10(8)": "Neither confirm nor deny whether environmental information held",
    "11(1)": "Personal data of the applicant - EIR",
    "11(2)": "Third party personal data - EIR",
    "11(6)": "Neither confirm or deny whether personal data held",
}

# -- internal reviews, ICO complaints, durations (Cabinet Office) -----------------------------------------
IR_TOTAL = "Total Internal Reviews"
IR_KNOWN = "Internal Reviews with outcome known"
IR_UPHELD = "IR number upheld in full"
IR_PART = "IR number upheld in part"
IR_OVERTURNED = "IR number overturned"
IR_WITHDRAWN = "IR withdrawn"  # foi-sync addition (ReviewOutcome.WITHDRAWN)
IR_PCT_UPHELD = "IR percentage upheld in full"
IR_COMPLETED = "IR Total Reviews Completed"
ICO_TOTAL = "ICO Total Complaints"
ICO_KNOWN = "ICO Complaints with known outcome"
ICO_UPHELD = "ICO Number upheld in full"
ICO_PART = "ICO Number upheld in part"
ICO_OVERTURNED = "ICO Number overturned"
ICO_WITHDRAWN = "ICO complaints withdrawn"  # foi-sync addition
ICO_PCT_UPHELD = "ICO Percentage upheld in full"
PIT_TOTAL = "PIT Total Requests Extended"
PIT_COMPLETED = "PIT Number Completed"

#: (label, low, high) inclusive working-day buckets, verbatim from the Cabinet Office CSV.
PIT_BUCKETS = [
    ("5 or Less", None, 5),
    ("6 to 10", 6, 10),
    ("11 to 15", 11, 15),
    ("16 to 20", 16, 20),
    ("21 to 30", 21, 30),
    ("31 to 40", 31, 40),
    ("41 to 60", 41, 60),
    ("61 to 80", 61, 80),
    ("81 to 100", 81, 100),
    ("More than 100", 101, None),
]
IR_BUCKETS = [
    ("10 or less", None, 10),
    ("11 to 20", 11, 20),
    ("21 to 40", 21, 40),
    ("41 to 60", 41, 60),
    ("61 to 80", 61, 80),
    ("81 to 100", 81, 100),
    ("More than 100", 101, None),
]
#: Time-to-respond bands published by councils under the s.45 Code (Wigan's bands, foi-rules.md 4.2).
RESPONSE_BANDS = [
    ("0 to 3", None, 3),
    ("4 to 7", 4, 7),
    ("8 to 12", 8, 12),
    ("13 to 16", 13, 16),
    ("17 to 19", 17, 19),
    ("20", 20, 20),
    ("More than 20", 21, None),
]

REGIME_LABELS = {"foia": "FOIA", "eir": "EIR", "foisa": "FOISA", "eisr": "EISR", "sar": "SAR"}
#: The freedom-of-information regimes (not subject access), from the rules table.
INFO_REGIMES = tuple(r.value for r in rules.INFO_REGIMES)
ALL_INFO = "All FOI and EIR"
NOT_RECORDED = "Not recorded"
UNASSIGNED = "Unassigned"
CHANNEL_LABELS = {"whatdotheyknow": "WhatDoTheyKnow", "web_form": "Web form"}

_CODE = re.compile(r"^(s|reg)(\d+[A-Z]?)((?:\([0-9A-Za-z]+\))*)$")


def classify_exemption(code: str, regime: str | None) -> tuple[str, str]:
    """(scheme, label) for one normalised code, e.g. ("FOIA", "S(40) - Personal information").

    The case's regime decides the scheme, because the same number means different things in FOIA and FOISA.
    Unknown or unmapped codes keep their own code as the label under scheme "Other", so nothing is dropped.
    """
    m = _CODE.match(code.strip())
    if not m:
        return "Other", code
    kind, number, groups = m.group(1), m.group(2), m.group(3)
    parts = re.findall(r"\(([0-9A-Za-z]+)\)", groups)
    if regime in ("foisa", "eisr"):
        table = FOISA_EXEMPTIONS if kind == "s" else EISR_EXCEPTIONS
        scheme = "FOISA" if kind == "s" else "EISR"
        for n in range(len(parts), -1, -1):
            key = number + "".join(f"({p})" for p in parts[:n])
            if key in table:
                return scheme, table[key]
        return "Other", f"{code} ({scheme})"
    if kind == "s":
        if number == "21":
            return "S21", "S(21) - Information accessible by other means"
        if number in FOIA_EXEMPTIONS:
            return "FOIA", FOIA_EXEMPTIONS[number]
        return "Other", code
    if number == "13" or (number == "12" and parts[:1] == ["3"]):
        return "EIR", EIR_EXCEPTIONS["3(a)"]
    if number == "12" and len(parts) >= 2 and f"{parts[0]}({parts[1]})" in EIR_EXCEPTIONS:
        return "EIR", EIR_EXCEPTIONS[f"{parts[0]}({parts[1]})"]
    return "Other", code


def bucket_labels(values: list[tuple[str, int | None, int | None]]) -> list[str]:
    return [label for label, _, _ in values]
