"""Log lines are structured and never carry requester data or secrets."""

from __future__ import annotations

import io
import json
import logging

from connector.logs import JsonFormatter, RedactingFilter, get_logger, redact


def test_redact_masks_emails_tokens_and_secrets() -> None:
    text = "sent to jane.o'brien@example.org with Bearer eyJhbGciOi.abc.def and client_secret=hunter2"
    out = redact(text)
    assert "example.org" not in out and "eyJhbGciOi" not in out and "hunter2" not in out
    assert "[email]" in out and "[token]" in out and "[secret]" in out


def test_json_lines_carry_extra_fields_and_redact_them() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    log = get_logger("test.json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("pushed %d cases", 3, extra={"run_id": "r1", "note": "reply to a@b.example.com"})
    finally:
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["msg"] == "pushed 3 cases"
    assert line["run_id"] == "r1"
    assert line["note"] == "reply to [email]"
    assert line["level"] == "info"
