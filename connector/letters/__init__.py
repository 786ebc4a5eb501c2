"""Letters: statutory notices rendered with sandboxed Jinja2 and pushed to the CRM as email activities."""

from connector.letters.push import LetterFailure, LetterPushResult, LetterTarget, activity_id, push_letters
from connector.letters.render import LetterError, LetterRenderer, RenderedLetter, render_letter, uk_date
from connector.letters.select import letters_due
from connector.letters.types import APPLIES_TO, LetterType, applies

__all__ = [
    "APPLIES_TO",
    "LetterError",
    "LetterFailure",
    "LetterPushResult",
    "LetterRenderer",
    "LetterTarget",
    "LetterType",
    "RenderedLetter",
    "activity_id",
    "applies",
    "letters_due",
    "push_letters",
    "render_letter",
    "uk_date",
]
