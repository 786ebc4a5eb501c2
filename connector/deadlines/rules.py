"""The regime rules the engine reads: re-exported from :mod:`connector.rules`, the one table (no copy here)."""

from __future__ import annotations

from connector.rules import EXTENSION_LABEL, RULES, RegimeRule, rule_for

__all__ = ["EXTENSION_LABEL", "RULES", "RegimeRule", "rule_for"]
