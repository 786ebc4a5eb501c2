"""Letter preview file names: unique per reference, reversible, never outside the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.letters.files import preview_path, reference_from_stem, reference_stem


def test_references_that_differ_after_a_dot_get_different_files(tmp_path: Path) -> None:
    a = preview_path(tmp_path, "DOT.2026.1", "acknowledgement", "html")
    b = preview_path(tmp_path, "DOT.2026.2", "acknowledgement", "html")
    assert a.name == "DOT%2E2026%2E1_acknowledgement.html" and b.name == "DOT%2E2026%2E2_acknowledgement.html"
    assert preview_path(tmp_path, "FOI/2025/0142", "acknowledgement", "txt").name == (
        "FOI%2F2025%2F0142_acknowledgement.txt"
    )


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "..", ".", "a\\..\\b", "/abs", "C:\\x", "\x00", ""])
def test_hostile_references_stay_in_the_folder(tmp_path: Path, hostile: str) -> None:
    path = preview_path(tmp_path, hostile, "acknowledgement", "html")
    assert path.resolve().parent == tmp_path.resolve()
    assert "/" not in path.name and "\\" not in path.name and not path.name.startswith(".")
    path.write_text("x", encoding="utf-8")  # a real file of that name can be made


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=2, max_size=5, unique=True))
def test_stems_are_unique_reversible_and_file_safe(refs: list[str]) -> None:
    stems = [reference_stem(r) for r in refs]
    assert len(set(stems)) == len(stems)
    for ref, stem in zip(refs, stems, strict=True):
        if ref and "~~" not in stem:  # "~" is always encoded, so "~~" only marks the shortened form
            assert reference_from_stem(stem) == ref
        assert all((c.isascii() and c.isalnum()) or c in "-%~" for c in stem), stem
        assert len(stem) <= 150


def test_a_very_long_reference_is_shortened_uniquely() -> None:
    a, b = reference_stem("é" * 100 + "1"), reference_stem("é" * 100 + "2")
    assert a != b and len(a) <= 150 and "~~" in a
    with pytest.raises(ValueError, match="shortened"):
        reference_from_stem(a)
