"""Structured logging for the scheduled job: one JSON object per line, with no requester data.

Code logs counts, references and error codes, never names, emails or request text. As a second line of
defence a filter masks anything shaped like an email address or a bearer token before a line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SECRETISH = re.compile(r"(?i)(client_secret|password|access_token)(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+")

#: LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    text = _EMAIL.sub("[email]", text)
    text = _BEARER.sub(r"\1[token]", text)
    return _SECRETISH.sub(r"\1\2[secret]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        base = f"{record.levelname.lower():7} {record.name}: {record.getMessage()}"
        return f"{base} {extras}".rstrip()


class _OurHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs (so a second call replaces it and leaves a host's handlers alone)."""


def configure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Log to stderr (stdout stays for command output). Safe to call more than once."""
    root = logging.getLogger("connector")
    for old in list(root.handlers):
        if isinstance(old, _OurHandler):
            root.removeHandler(old)
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = True  # a host application (or pytest) may also want the records; root has no handler by default


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("connector") else f"connector.{name}")
