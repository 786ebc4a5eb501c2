"""Where the shipped folders live: the design card puts ``mappings/`` and ``templates/`` beside the package."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
MAPPINGS_DIR = REPO_ROOT / "mappings"
TEMPLATES_DIR = REPO_ROOT / "templates"
SAMPLES_DIR = REPO_ROOT / "samples"
