"""Readers: every kind of source becomes one raw DataFrame of text cells plus ``_row`` (and ``_file``).

``_row`` is what a person opens the source at: the file line of a CSV record, the sheet row of an XLSX
record, the record number in a JSON file or SQL result. Readers never judge values; normalize does.
"""

from __future__ import annotations

import csv
import email
import email.policy
import email.utils
import io
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connector.errors import MappingError, SourceError
from connector.intake.rejects import Reject
from connector.intake.source_mapping import SourceMapping, fold

log = logging.getLogger(__name__)

ROW = "_row"
FILE = "_file"

#: request-<id>-<8 hex>@whatdotheyknow.com (Alaveteli InfoRequest#incoming_email); "Request-" also seen.
WDTK_ADDRESS = re.compile(r"(?i)\brequest-(\d+)-([0-9a-f]{8})@whatdotheyknow\.com\b")
_HEADER_SCAN_LINES = 50

#: The longest cell a source may hold (characters), far above any column width (request text holds 100,000):
#: a longer cell rejects its row with the line number. Documented in docs/intake.md.
MAX_FIELD_CHARS = 10 * 1024 * 1024
#: A web-form JSON file larger than this, or nested deeper, is rejected whole (a form is a few kilobytes).
MAX_JSON_BYTES = 5 * 1024 * 1024
MAX_JSON_DEPTH = 32

csv.field_size_limit(MAX_FIELD_CHARS)

#: Byte-order marks, longest first, and the codec each means (UTF-32 is refused: no register writes it).
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


@dataclass
class RawSource:
    """What a reader hands to normalize: text cells, where each came from, and whole-record failures."""

    name: str
    frame: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    blank_rows: int = 0
    location: str = ""


# --------------------------------------------------------------------------------------------- CSV


def detect_encoding(path: Path, configured: str) -> str:
    """UTF-8 with BOM, UTF-16 LE/BE with BOM, UTF-8, else Windows-1252 (Excel's "CSV" on a UK PC), in that order."""
    if configured != "auto":
        return configured
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut in half at the end of the sample
            return "cp1252"
    return "utf-8"


def _find_header(rows: list[list[str]], wanted: list[str], origin: str, location: str) -> int:
    """0-based index of the first row naming at least half of the mapped columns (all, if only one or two)."""
    want = {fold(c) for c in wanted}
    need = len(want) if len(want) <= 2 else max(2, (len(want) + 1) // 2)
    for i, row in enumerate(rows):
        cells = {fold(c) for c in row if c is not None and str(c).strip()}
        if len(want & cells) >= need:
            return i
    raise MappingError(
        f"{origin}: source.header_row: no header line naming the mapped columns "
        f"({', '.join(repr(c) for c in wanted)}) in the first {len(rows)} lines of {location}; fix: check the "
        "column names under [columns] against the file or set header_row to the line number of the header"
    )


def _check_columns(header: list[str], mapping: SourceMapping, location: str, line: int) -> dict[str, str]:
    """Map each mapped column name to the header cell it matches (case/space-insensitively)."""
    by_fold: dict[str, list[tuple[int, str]]] = {}
    for i, h in enumerate(header, start=1):
        if isinstance(h, str):
            by_fold.setdefault(fold(h), []).append((i, h))
    resolved: dict[str, str] = {}
    for case_field, cols in mapping.columns.items():
        for col in cols:
            found = by_fold.get(fold(col), [])
            if len(found) > 1:
                cells = ", ".join(f"'{h}' (column {i})" for i, h in found)
                raise SourceError(
                    f"{location}: the header (line {line}) has {len(found)} columns matching '{col}' "
                    f"(columns.{case_field} in {mapping.origin}): {cells}; fix: rename or remove the extra column "
                    "so each mapped name appears once"
                )
            actual = found[0][1] if found else None
            if actual is None:
                raise MappingError(
                    f"{mapping.origin}: columns.{case_field}: column '{col}' is not in the header of {location} "
                    f"(line {line}); fix: use one of the header names: {', '.join(map(str, header))}"
                )
            resolved[col] = actual
    return resolved


def read_csv_source(path: Path, mapping: SourceMapping, name: str) -> RawSource:
    opts = mapping.source
    if not path.is_file():
        raise SourceError(f"source '{name}': file {path} does not exist; fix the 'path' of the source in the config")
    encoding = detect_encoding(path, opts.encoding)
    try:
        return _read_csv(path, mapping, name, encoding)
    except pd.errors.ParserError as exc:
        raise SourceError(
            f"source '{name}': {path} is not a readable CSV ({str(exc).strip().splitlines()[0][:200]}); fix: "
            "check for an unclosed quote, or re-export the file as CSV"
        ) from None
    except UnicodeDecodeError:
        if opts.encoding != "auto" or encoding == "cp1252":
            raise SourceError(
                f"source '{name}': {path} is not valid {encoding}; fix: set source.encoding in "
                f"{mapping.origin} (utf-8, utf-8-sig or cp1252)"
            ) from None
        log.info("source %s: not UTF-8 past the first megabyte, reading as Windows-1252", name)
        return _read_csv(path, mapping, name, "cp1252")


def _head_rows(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    """The first lines as cells, for finding the header (any mix of CRLF, LF and bare CR ends a line)."""
    with path.open("r", encoding=encoding, newline="") as fh:
        head_lines = [line for _, line in zip(range(_HEADER_SCAN_LINES), fh, strict=False)]
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO("".join(head_lines)), delimiter=delimiter)
    while True:
        try:
            rows.append(next(reader))
        except StopIteration:
            return rows
        except csv.Error:  # a cell over MAX_FIELD_CHARS or a stray NUL: that line cannot be the header
            rows.append([])


def _read_csv(path: Path, mapping: SourceMapping, name: str, encoding: str) -> RawSource:
    opts = mapping.source
    head_rows = _head_rows(path, encoding, opts.delimiter)
    if opts.header_row == "auto":
        # csv rows and lines only differ when a quoted cell spans lines; registers rarely do that above the header.
        header_idx = _find_header(head_rows, mapping.columns.source_columns(), mapping.origin, str(path))
    else:
        header_idx = opts.header_row - 1
        if header_idx >= len(head_rows):
            raise MappingError(
                f"{mapping.origin}: source.header_row: line {opts.header_row} is past the end of {path}; "
                "fix: set it to the header's line number or 'auto'"
            )
    header_line = header_idx + 1
    header = head_rows[header_idx]
    resolved = _check_columns(header, mapping, str(path), header_line)
    usecols = sorted(set(resolved.values()), key=header.index)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        frame = pd.read_csv(
            path,
            # pandas' C parser drops a UTF-8 BOM itself, and "utf-8-sig" would send every byte through a slower codec
            encoding="utf-8" if encoding == "utf-8-sig" else encoding,
            sep=opts.delimiter,
            skiprows=header_idx,
            header=0,
            # Every column is read (not usecols=): only then does pandas notice a row with extra cells, which
            # usually means an unquoted comma has shifted every later value into the wrong column.
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            engine="c",
            on_bad_lines="warn",  # a row with too many cells is one reject line, never the end of the file
        )
    frame = frame[usecols].rename(columns={v: k for k, v in resolved.items()})
    rejects, skipped = _bad_lines(caught, name)
    lines = np.arange(header_line + 1, header_line + 1 + len(frame) + len(skipped), dtype=np.int64)
    if skipped:
        lines = lines[~np.isin(lines, np.array(sorted(skipped), dtype=np.int64))]
    frame[ROW] = lines[: len(frame)]
    raw = RawSource(name=name, frame=frame, rejects=rejects, location=str(path))
    if path.stat().st_size > MAX_FIELD_CHARS:  # only a file this big can hold a cell this long
        raw = _reject_huge_cells(raw)
    return _drop_blank(raw)


_BAD_LINE = re.compile(r"Skipping line (\d+): expected (\d+) fields, saw (\d+)")


def _bad_lines(caught: list[warnings.WarningMessage], name: str) -> tuple[list[Reject], set[int]]:
    """pandas' 'Skipping line N' warnings -> one reject per line (the C parser reports file line numbers)."""
    rejects: list[Reject] = []
    skipped: set[int] = set()
    for w in caught:
        for m in _BAD_LINE.finditer(str(w.message)):
            line, want, saw = (int(g) for g in m.groups())
            skipped.add(line)
            rejects.append(
                Reject(
                    source=name,
                    row=line,
                    field=None,
                    reason=f"the line has {saw} cells where the header has {want}; fix: quote cells that contain "
                    "the delimiter, or remove the extra cells",
                )
            )
    return rejects, skipped


def _reject_huge_cells(raw: RawSource) -> RawSource:
    """Rows with a cell over MAX_FIELD_CHARS become reject lines (what a damaged export or an attack looks like)."""
    frame = raw.frame
    huge = np.zeros(len(frame), dtype=bool)
    for col in frame.columns:
        if col.startswith("_"):
            continue
        cells = frame[col].fillna("").to_numpy(object)
        huge |= np.fromiter(map(len, cells), dtype=np.int64, count=len(cells)) > MAX_FIELD_CHARS
    if huge.any():
        for row in frame.loc[huge, ROW].tolist():
            raw.rejects.append(
                Reject(
                    source=raw.name,
                    row=int(row),
                    field=None,
                    reason=f"a cell is over {MAX_FIELD_CHARS:,} characters (the most a source cell may hold); fix "
                    "the export, or attach the document in the CRM instead",
                )
            )
        raw.frame = frame.loc[~huge].reset_index(drop=True)
    return raw


def _drop_blank(raw: RawSource) -> RawSource:
    data_cols = [c for c in raw.frame.columns if not c.startswith("_")]
    if not data_cols or raw.frame.empty:
        return raw
    # Only rows whose first cell is empty can be blank: check the other cells for those few rows only.
    maybe = raw.frame[data_cols[0]].isna().to_numpy()
    blank = np.zeros(len(raw.frame), dtype=bool)
    if maybe.any():
        blank[maybe] = raw.frame.loc[maybe, data_cols].isna().all(axis=1).to_numpy()
    if blank.any():
        raw.blank_rows = int(blank.sum())
        raw.frame = raw.frame.loc[~blank].reset_index(drop=True)
    return raw


# -------------------------------------------------------------------------------------------- XLSX


def _cell_text(value: Any) -> Any:
    """Excel cells as text: datetimes in ISO form, whole numbers without '.0' (serial dates stay numbers)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else np.nan


def read_xlsx_source(path: Path, mapping: SourceMapping, name: str) -> RawSource:
    if not path.is_file():
        raise SourceError(f"source '{name}': file {path} does not exist; fix the 'path' of the source in the config")
    opts = mapping.source
    try:
        sheet = pd.read_excel(path, sheet_name=opts.sheet, header=None, dtype=object, engine="openpyxl")
    except ValueError as exc:
        raise MappingError(
            f"{mapping.origin}: source.sheet: {exc}; fix: name an existing sheet or use its 0-based index"
        ) from None
    except Exception as exc:  # openpyxl raises several unrelated types for a damaged file
        raise SourceError(
            f"source '{name}': {path} is not a readable .xlsx workbook ({type(exc).__name__}); "
            "fix: open it in Excel and save it again as an .xlsx workbook"
        ) from None
    sheet = sheet.map(_cell_text)
    rows = sheet.head(_HEADER_SCAN_LINES).astype(object).where(sheet.head(_HEADER_SCAN_LINES).notna(), "")
    head_rows = [[str(c) for c in r] for r in rows.itertuples(index=False)]
    if opts.header_row == "auto":
        header_idx = _find_header(head_rows, mapping.columns.source_columns(), mapping.origin, str(path))
    else:
        header_idx = opts.header_row - 1
    header = head_rows[header_idx]
    resolved = _check_columns(header, mapping, str(path), header_idx + 1)
    body = sheet.iloc[header_idx + 1 :]
    positions = {h: i for i, h in reversed(list(enumerate(header)))}
    frame = pd.DataFrame({col: body.iloc[:, positions[actual]].to_numpy() for col, actual in resolved.items()})
    frame[ROW] = body.index.to_numpy(dtype=np.int64) + 1
    return _drop_blank(RawSource(name=name, frame=frame, location=str(path)))


# ------------------------------------------------------------------------------------- JSON folder


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    key = prefix[:-1]
    if isinstance(obj, list):
        out[key] = "; ".join(str(v) for v in obj if v is not None)
    elif obj is None or (isinstance(obj, str) and not obj.strip()):
        out[key] = np.nan
    else:
        out[key] = str(obj)
    return out


class _JsonRefused(ValueError):
    """A web-form file that is not usable JSON; the message says why and what to do."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRefused(f"key '{key}' appears twice in one object; fix: send each field once")
        out[key] = value
    return out


def _json_depth(obj: Any) -> int:
    """Nesting depth without recursion (a hostile file must not reach Python's recursion limit)."""
    depth, stack = 0, [(obj, 1)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, dict | list):
            depth = max(depth, d)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item))
    return depth


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not) or UTF-16 with a BOM; raises UnicodeDecodeError otherwise."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec)
    return data.decode("utf-8")


def _json_records(file: Path) -> list[Any]:
    """One web-form file's records, refusing what cannot be read safely (size, depth, encoding, syntax)."""
    size = file.stat().st_size
    if size > MAX_JSON_BYTES:
        raise _JsonRefused(
            f"file is {size:,} bytes, over the {MAX_JSON_BYTES:,} a web-form submission may be; fix: check the "
            "form's export (one submission per file)"
        )
    try:
        text = decode_text(file.read_bytes())
    except UnicodeDecodeError:
        raise _JsonRefused("file is not UTF-8 or UTF-16 text; fix: re-save it as UTF-8") from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise _JsonRefused(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); fix or re-export the file",
            exc.lineno,
        ) from None
    except RecursionError:
        data = None
        depth = MAX_JSON_DEPTH + 1
    else:
        depth = _json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise _JsonRefused(
            f"JSON is nested deeper than {MAX_JSON_DEPTH} levels; a web form is a flat object: fix the form's export"
        )
    return data if isinstance(data, list) else [data]


def _ambiguous_keys(flat: dict[str, Any], wanted_folds: set[str]) -> str:
    """'email', 'Email': two keys that fold to the same mapped column (which one is meant cannot be known)."""
    seen: dict[str, list[str]] = {}
    for key in flat:
        f = fold(key)
        if f in wanted_folds:
            seen.setdefault(f, []).append(key)
    clashes = [keys for keys in seen.values() if len(keys) > 1]
    return "; ".join(", ".join(f"'{k}'" for k in keys) for keys in clashes)


def read_json_folder(path: Path, mapping: SourceMapping, name: str) -> RawSource:
    """A drop folder of web-form submissions: one JSON object (or a list of them) per file; nested keys join with '.'."""
    if not path.is_dir():
        raise SourceError(f"source '{name}': folder {path} does not exist; fix the 'path' of the source")
    records: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    wanted_folds = {fold(c) for c in mapping.columns.source_columns()}
    for file in sorted(path.glob("*.json")):
        where = f"{name}/{file.name}"
        try:
            items = _json_records(file)
        except _JsonRefused as exc:
            rejects.append(Reject(source=where, row=exc.line, field=None, reason=str(exc)))
            continue
        except Exception as exc:  # unreadable file (permissions, vanished while listed): this file only
            rejects.append(
                Reject(
                    source=where,
                    row=None,
                    field=None,
                    reason=f"file could not be read ({type(exc).__name__}); fix: check it is a readable JSON file",
                )
            )
            continue
        for i, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                rejects.append(
                    Reject(source=where, row=i, field=None, reason="record is not a JSON object; expected {...}")
                )
                continue
            flat = _flatten(item)
            clash = _ambiguous_keys(flat, wanted_folds)
            if clash:
                rejects.append(
                    Reject(
                        source=where,
                        row=i,
                        field=None,
                        reason=f"keys {clash} name the same mapped field; fix: send each field once",
                    )
                )
                continue
            flat[ROW] = i
            flat[FILE] = file.name
            records.append(flat)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({ROW: [], FILE: []})
    wanted = mapping.columns.source_columns()
    by_fold = {fold(c): c for c in frame.columns}
    renamed: dict[str, str] = {}
    for col in wanted:
        actual = by_fold.get(fold(col))
        if actual is None:
            frame[col] = np.nan  # a form that never sends an optional field: normalize decides if it is required
        elif actual != col:
            renamed[actual] = col
    frame = frame.rename(columns=renamed)
    frame = frame[[*wanted, ROW, FILE]]
    frame[ROW] = frame[ROW].astype("int64")
    return RawSource(name=name, frame=frame, rejects=rejects, location=str(path))


# ------------------------------------------------------------------------------------- .eml folder

_SUBJECT_PREFIX = re.compile(
    r"(?i)^\s*(?:(?:re|fw|fwd):\s*)*(?:freedom of information request|foi request|"
    r"environmental information regulations request|eir request|subject access request)\s*[-:–]\s*"
)
#: WhatDoTheyKnow's footer, which is not part of the request.
_WDTK_FOOTER = re.compile(
    r"(?im)^-{5,}\s*$\s*(?=^\s*(?:please use this email address for all replies|"
    r"is .* the wrong address for|disclaimer: this message and any reply))"
)
_FOOTER_LINE = re.compile(r"(?im)^\s*please use this email address for all replies to this request")
_GOV_DOMAINS = re.compile(r"(?i)@[\w.-]+\.(?:gov\.uk|gov\.scot|gov\.wales|llyw\.cymru|nhs\.uk|police\.uk|ac\.uk)\b")
_TAGS = re.compile(r"<[^>]+>")


def wdtk_request_id(*addresses: str | None) -> int | None:
    """The WhatDoTheyKnow request id in any of the addresses, or None."""
    for value in addresses:
        if value:
            match = WDTK_ADDRESS.search(value)
            if match:
                return int(match.group(1))
    return None


def _received_at(msg: EmailMessage) -> str | None:
    """When the message reached the council's server: the newest Received: stamp, else the Date: header."""
    stamps = msg.get_all("Received") or []
    for stamp in stamps:
        text = str(stamp)
        if ";" in text:
            try:
                when = email.utils.parsedate_to_datetime(text.rsplit(";", 1)[1].strip())
            except (TypeError, ValueError):
                continue
            if when.tzinfo is not None:
                return when.isoformat()
    date_header = msg.get("Date")
    if date_header:
        try:
            when = email.utils.parsedate_to_datetime(str(date_header))
        except (TypeError, ValueError):
            return None
        return when.isoformat()
    return None


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):
        # get_payload(decode=True) of a non-multipart part is its bytes (the union type covers multipart parts).
        raw = part.get_payload(decode=True)
        content = raw.decode("latin-1", errors="replace") if isinstance(raw, bytes) else ""
    if not isinstance(content, str):
        content = ""  # a non-text body part (get_body only picks text/plain or text/html, so never in practice)
    if part.get_content_type() == "text/html":
        content = _TAGS.sub(" ", content)
    match = _WDTK_FOOTER.search(content) or _FOOTER_LINE.search(content)
    if match:
        content = content[: match.start()]
    return content.strip()


def parse_eml(raw_bytes: bytes) -> dict[str, Any]:
    """The fields an FOI mailbox message gives: sender, subject, body, arrival, Message-ID, WDTK request id."""
    msg = email.message_from_bytes(raw_bytes, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    from_name, from_email = email.utils.parseaddr(str(msg.get("From", "")))
    reply_to = str(msg.get("Reply-To", ""))
    to_cc = ", ".join(str(msg.get(h, "")) for h in ("To", "Cc"))
    wdtk = wdtk_request_id(from_email, reply_to)
    subject = _SUBJECT_PREFIX.sub("", str(msg.get("Subject", "")).strip())
    authorities = {m.group(0).lower() for m in _GOV_DOMAINS.finditer(to_cc)}
    return {
        "from_name": from_name or np.nan,
        "from_email": from_email or np.nan,
        "subject": subject or np.nan,
        "body": _body_text(msg) or np.nan,
        "received_at": _received_at(msg) or np.nan,
        "message_id": str(msg.get("Message-ID", "")).strip() or np.nan,
        "wdtk_request_id": str(wdtk) if wdtk else np.nan,
        "channel": "whatdotheyknow" if wdtk else "email",
        "authorities_addressed": str(len(authorities)),
    }


def read_eml_folder(path: Path, mapping: SourceMapping, name: str) -> RawSource:
    if not path.is_dir():
        raise SourceError(f"source '{name}': folder {path} does not exist; fix the 'path' of the source")
    records = []
    rejects: list[Reject] = []
    for file in sorted(path.glob("*.eml")):
        try:
            fields = parse_eml(file.read_bytes())
        except Exception as exc:  # the email package raises assorted errors on damaged messages
            rejects.append(
                Reject(
                    source=f"{name}/{file.name}",
                    row=None,
                    field=None,
                    reason=f"not a readable RFC 822 message ({type(exc).__name__}); save it again from the mailbox",
                )
            )
            continue
        fields[ROW] = 1
        fields[FILE] = file.name
        records.append(fields)
    columns = [*{c for _, cols in mapping.columns.items() for c in cols}]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=[*columns, ROW, FILE])
    for col in columns:
        if col not in frame.columns:
            raise MappingError(
                f"{mapping.origin}: columns: '{col}' is not a field of a parsed .eml message; fix: use one of "
                "from_name, from_email, subject, body, received_at, message_id, wdtk_request_id, channel, "
                "authorities_addressed"
            )
    frame[ROW] = frame[ROW].astype("int64")
    return RawSource(name=name, frame=frame, rejects=rejects, location=str(path))


# --------------------------------------------------------------------------------------------- SQL


def read_sql_source(url: str, query: str | None, mapping: SourceMapping, name: str) -> RawSource:
    """Any database SQLAlchemy can reach; needs the ``sql`` extra (``pip install foi-sync[sql]``)."""
    try:
        import sqlalchemy as sa
    except ImportError:
        raise SourceError(
            f"source '{name}': kind 'sql' needs SQLAlchemy; fix: pip install 'foi-sync[sql]' (plus the database driver)"
        ) from None
    sql = query or mapping.source.query
    if not sql:
        raise MappingError(
            f"source '{name}': no query; fix: set 'query' on the source in the config or source.query in {mapping.origin}"
        )
    try:
        engine = sa.create_engine(url)
    except Exception as exc:
        raise SourceError(
            f"source '{name}': 'path' is not a usable SQLAlchemy URL ({type(exc).__name__}); "
            "fix: write it like sqlite:///register.db or postgresql+psycopg://user@host/db"
        ) from None
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(sa.text(sql), conn)
    except Exception as exc:
        raise SourceError(
            f"source '{name}': query failed on {shown} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "fix the query or the URL"
        ) from None
    finally:
        engine.dispose()
    frame = frame.map(_cell_text).astype(object)
    resolved = _check_columns(list(frame.columns), mapping, f"the result of the query on {shown}", 0)
    frame = frame.rename(columns={v: k for k, v in resolved.items()})
    frame = frame[list(resolved)]
    frame[ROW] = np.arange(1, len(frame) + 1, dtype=np.int64)
    return _drop_blank(RawSource(name=name, frame=frame, location=shown))


def read_raw(kind: str, location: str, mapping: SourceMapping, name: str, query: str | None = None) -> RawSource:
    """Dispatch on the source kind."""
    if kind == "csv":
        return read_csv_source(Path(location), mapping, name)
    if kind == "xlsx":
        return read_xlsx_source(Path(location), mapping, name)
    if kind == "json-folder":
        return read_json_folder(Path(location), mapping, name)
    if kind == "eml-folder":
        return read_eml_folder(Path(location), mapping, name)
    if kind == "sql":
        return read_sql_source(location, query, mapping, name)
    raise SourceError(f"source '{name}': unknown kind '{kind}'; use csv, xlsx, json-folder, eml-folder or sql")
