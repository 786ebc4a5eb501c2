"""One TOML loader, one error format: every loader says FILE:LINE: 'KEY': PROBLEM; fix: FIX the same way."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.config import load_settings
from connector.deadlines.overrides import load_overrides
from connector.errors import FoiSyncError
from connector.intake.classify import load_rules
from connector.intake.grade import load_team_calendars
from connector.intake.source_mapping import load_source_mapping

LOADERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "config": (load_settings, "[council]\nnaem = 'x'\n"),
    "source mapping": (load_source_mapping, "[columns]\nreference = 'Ref'\nreceived_at = 'Date'\nnaem = 'x'\n"),
    "routing rules": (load_rules, "naem = 'x'\n"),
    "team calendars": (load_team_calendars, "naem = 'x'\n"),
    "holiday overrides": (load_overrides, "naem = 'x'\n"),
}
SHAPE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<key>.+?): (?P<problem>[^;]+); fix: (?P<fix>.+)$")


@pytest.mark.parametrize("name", list(LOADERS))
def test_unknown_key_in_the_shared_format(tmp_path: Path, name: str) -> None:
    load, text = LOADERS[name]
    path = tmp_path / "file.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FoiSyncError) as info:
        load(path)
    first = str(info.value).splitlines()[0]
    m = SHAPE.match(first)
    assert m, first
    assert m["file"] == str(path) and "naem" in m["key"] and m["problem"] == "unknown key"
    assert text.splitlines()[int(m["line"]) - 1].startswith("naem")


@pytest.mark.parametrize("name", list(LOADERS))
def test_syntax_error_names_the_line(tmp_path: Path, name: str) -> None:
    load, _ = LOADERS[name]
    path = tmp_path / "file.toml"
    path.write_text("# ok\n[council\n", encoding="utf-8")
    with pytest.raises(FoiSyncError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:2: (file): not valid TOML")
    assert "fix: correct the syntax at that line" in str(info.value)
