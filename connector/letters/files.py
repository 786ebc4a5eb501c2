"""File names for letter previews: one per case reference and letter, reversible, never outside the folder.

A reference becomes a file-name stem by keeping letters, digits and ``-`` and writing every other character as
``%XX`` (its UTF-8 bytes, as in a URL): ``DOT.2026.1`` -> ``DOT%2E2026%2E1``, ``FOI/2025/0417`` ->
``FOI%2F2025%2F0417``. Dots are encoded too, so no suffix handling can cut a stem short (``DOT.2026.1`` and
``DOT.2026.2`` once both became ``DOT.2026.html``), and ``/``, ``\\`` and ``..`` cannot reach another folder.
:func:`reference_from_stem` turns a stem back into the reference. References differing only in letter case are
one case in Dataverse (its keys ignore case), so case-insensitive file systems lose nothing. A reference whose
stem would pass 150 characters keeps a readable start plus a digest (unique, but not reversible).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote

MAX_STEM = 150


def _encode_char(ch: str) -> str:
    if (ch.isascii() and ch.isalnum()) or ch == "-":
        return ch
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


def reference_stem(reference: str) -> str:
    """The file-name stem for a case reference (see the module docstring)."""
    stem = "".join(map(_encode_char, reference)) or "%00empty"
    if len(stem) > MAX_STEM:
        digest = hashlib.sha256(reference.encode("utf-8")).hexdigest()[:16]
        head = stem[: MAX_STEM - 18]
        cut = head.rfind("%", len(head) - 2)  # never end inside a %XX escape
        stem = (head[:cut] if cut >= 0 else head) + "~~" + digest
    return stem


def reference_from_stem(stem: str) -> str:
    """The reference a stem was made from (not for the digest form of very long references)."""
    if "~~" in stem:
        raise ValueError(f"'{stem}' is the shortened form of a long reference and cannot be turned back")
    return unquote(stem, errors="strict")


def preview_path(folder: Path, reference: str, letter: str, suffix: str) -> Path:
    """``<folder>/<reference stem>_<letter>.<suffix>``, checked to be inside ``folder``."""
    name = f"{reference_stem(reference)}_{_letter_part(letter)}.{suffix.lstrip('.')}"
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"letter preview name '{name}' would leave {folder}")
    return path


def _letter_part(letter: str) -> str:
    return "".join(ch if (ch.isascii() and (ch.isalnum() or ch in "-_")) else "-" for ch in letter)
