"""Moved to :mod:`connector.cells` (the foundation), so intake's rejects.csv is neutralised by the same rule.

Kept as a re-export so code written against the old path still imports; new code imports ``connector.cells``.
"""

from connector.cells import FORMULA_TRIGGERS, neutralise, neutralise_frame

__all__ = ["FORMULA_TRIGGERS", "neutralise", "neutralise_frame"]
