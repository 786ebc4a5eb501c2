"""Rejects reports are kept to the newest ``intake.rejects_keep``: a job every 15 minutes must not fill the disk."""

from __future__ import annotations

import os
from pathlib import Path

from connector.intake.rejects import prune_rejects


def _reports(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        p = folder / f"rejects-run{i:02d}.csv"
        p.write_text("source,row,field,reason\n", encoding="utf-8")
        os.utime(p, (1_700_000_000 + i * 900, 1_700_000_000 + i * 900))  # one every 15 minutes, oldest first
        paths.append(p)
    return paths


def test_keeps_the_newest_and_nothing_else_is_touched(tmp_path: Path) -> None:
    paths = _reports(tmp_path, 5)
    other = tmp_path / "notes.csv"
    other.write_text("kept\n", encoding="utf-8")
    gone = prune_rejects(tmp_path, keep=2)
    assert sorted(gone) == paths[:3]
    assert sorted(tmp_path.glob("rejects-*.csv")) == paths[3:]
    assert other.exists()


def test_zero_keeps_everything(tmp_path: Path) -> None:
    paths = _reports(tmp_path, 3)
    assert prune_rejects(tmp_path, keep=0) == []
    assert sorted(tmp_path.glob("rejects-*.csv")) == paths


def test_the_default_is_documented_in_the_example_config() -> None:
    from connector.config import load_settings
    from connector.paths import REPO_ROOT

    text = (REPO_ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert "rejects_keep = 50" in text
    assert load_settings(REPO_ROOT / "config.example.toml").intake.rejects_keep == 50
