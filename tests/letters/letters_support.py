"""Shared constants for the letters tests (the PNG codec lives in tests/screenshots.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

DATA = Path(__file__).parent / "data"
INJECTION = "<script>alert('x')</script> {{ 7*191 }} {% raw %}{{ config }}{% endraw %} {{ ''.__class__ }}"


TODAY = date(2025, 7, 7)
