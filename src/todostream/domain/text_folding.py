"""How the content policy reads text: every spelling a person would read as the same words.

`fold` gives the plain form rules are written against. `readings` adds the forms that undo
the usual tricks to slip past a word filter: punctuation or spaces between letters
(`do-my-homework`, `h.a.r.a.s.s`), digits for letters (`h4ck`), and invisible characters
standing in for spaces. Matching any reading counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

# Letters from other scripts (and Latin small capitals) drawn like Latin letters.
_LOOKALIKES = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501\u04cf"  # Cyrillic
    "\u043a\u0433\u0442\u043c\u043d\u0432"  # more Cyrillic (ka, ghe, te, em, en, ve)
    "\u03bf\u03b1\u03b5\u03b9\u03ba\u03bd\u03c4\u03c5\u03c1"  # Greek
    "\u0251\u0261\u0131\u0585\u057d"  # Latin alpha, script g, dotless i, Armenian o u
    "\u0280\u029c\u1d0b\u1d00\u1d07\u026a\u1d0f\u1d1b\u1d1c\u028f\u0274\u1d0d\u029f\ua731"
    "\u1d05\u1d04\u0262\u1d18\u1d21\u1d20\u1d22\u0299",  # small capitals
    "aeopcyxijshdlkrtmhboaeikvtupagiourhkaeiotuynmlsdcgpwvzb",
)
# Characters that show as blank although Unicode does not class them as spaces.
_BLANKS = frozenset("\u2800\u3164\u115f\u1160\uffa0")
_LEET = str.maketrans("013457", "oieast")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACED_LETTERS = re.compile(r"(?<!\w)(?:\w )+\w(?!\w)")
_LETTERS_AND_DIGITS = re.compile(r"\b(?=\w*\d)(?=\w*[^\W\d])\w+\b")


def fold(text: str, *, invisible: str = "") -> str:
    """NFKC, accents and combining marks off, case folded, look-alikes as Latin, one space
    between words; invisible format characters become `invisible` ("" or " ")."""
    chars = []
    for char in unicodedata.normalize("NFKD", text):
        category = unicodedata.category(char)
        if category == "Mn":
            continue
        if category == "Cf":
            chars.append(invisible)
        else:
            chars.append(" " if char in _BLANKS else char)
    folded = unicodedata.normalize("NFKC", "".join(chars).casefold())
    return " ".join(folded.translate(_LOOKALIKES).split())


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _spaced_punctuation(text: str) -> str:
    return _collapse(_PUNCTUATION.sub(" ", fold(text)))


def _joined_letters(text: str) -> str:
    """`h.a.r.a.s.s`, `h a r a s s` and `home-work` read as whole words."""
    spaced = _collapse(_PUNCTUATION.sub(" ", fold(text)))
    return _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", ""), spaced)


def _without_punctuation(text: str) -> str:
    return _collapse(_PUNCTUATION.sub("", fold(text)))


def _digits_as_letters(text: str) -> str:
    folded = fold(text)
    return _LETTERS_AND_DIGITS.sub(lambda m: m.group().translate(_LEET), folded)


TRANSFORMS: tuple[Callable[[str], str], ...] = (
    fold,
    lambda text: fold(text, invisible=" "),
    _spaced_punctuation,
    _joined_letters,
    _without_punctuation,
    _digits_as_letters,
)


def readings(fields: Mapping[str, str]) -> list[dict[str, str]]:
    """Each transform applied to every field alike; identical readings appear once."""
    result: list[dict[str, str]] = []
    for transform in TRANSFORMS:
        reading = {name: transform(value) for name, value in fields.items()}
        if reading not in result:
            result.append(reading)
    return result
