"""The content policy: named rules that flag or block a todo's text.

Text is compared in every reading `text_folding` gives it (NFKC, case folded, marks and
invisible characters dropped, look-alike letters as Latin, punctuation and spacing between
letters undone), so the tricks used to slip past word filters meet the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from todostream.domain.text_folding import fold, readings

FIELDS = ("title", "description", "category", "tags")


class Decision(StrEnum):
    ALLOW = "allow"
    FLAG = "flag"
    BLOCK = "block"

    @property
    def weight(self) -> int:
        return {Decision.ALLOW: 0, Decision.FLAG: 1, Decision.BLOCK: 2}[self]


class ConstitutionError(ValueError):
    """The rules file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True, slots=True)
class RuleMatch:
    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    rules: tuple[RuleMatch, ...] = ()

    @property
    def passed(self) -> bool:
        return self.decision is Decision.ALLOW

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "decision": self.decision.value,
            "reason": self.reason,
            "rules": [{"id": rule.id, "reason": rule.reason} for rule in self.rules],
        }


ALLOWED = Verdict(Decision.ALLOW, "No rule matched.")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    decision: Decision
    reason: str
    fields: tuple[str, ...]
    pattern: re.Pattern[str]
    ignore: re.Pattern[str] | None = None

    def matches(self, texts: Mapping[str, str], *, reverse: bool = False) -> bool:
        """Search the rule's fields (joined in order, or in reverse order so a phrase split
        as title "homework" + description "do my" is seen), with `ignore` phrases blanked out.

        Blanking (rather than letting an ignore phrase veto the rule) keeps "phishing awareness
        training, then send phishing emails" blocked: only the harmless words are hidden.
        """
        fields = reversed(self.fields) if reverse else self.fields
        joined = "\n".join(texts[field] for field in fields if texts.get(field))
        if self.ignore is not None:
            joined = self.ignore.sub(" ", joined)
        return bool(joined) and self.pattern.search(joined) is not None


class Constitution:
    """An ordered set of rules; `check` returns the strictest decision any rule reaches."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def check(
        self,
        *,
        title: str,
        description: str | None = None,
        category: str | None = None,
        tags: Iterable[str] = (),
    ) -> Verdict:
        raw = {
            "title": title,
            "description": description or "",
            "category": category or "",
            "tags": " ".join(tags),
        }
        texts = readings(raw)
        orders = (False, True) if sum(1 for value in raw.values() if value) > 1 else (False,)
        matched = [
            rule
            for rule in self.rules
            if any(rule.matches(t, reverse=r) for t in texts for r in orders)
        ]
        if not matched:
            return ALLOWED
        return _verdict_from(matched)

    @classmethod
    def from_file(cls, path: Path) -> Constitution:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConstitutionError(f"cannot read constitution {path}: {exc}") from exc
        return cls.from_document(document, source=str(path))

    @classmethod
    def from_document(cls, document: object, source: str = "<document>") -> Constitution:
        if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
            raise ConstitutionError(f"{source}: expected a mapping with a 'rules' list")
        rules = [_parse_rule(entry, index, source) for index, entry in enumerate(document["rules"])]
        ids = [rule.id for rule in rules]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ConstitutionError(f"{source}: duplicate rule ids {', '.join(duplicates)}")
        return cls(rules)


def _verdict_from(matched: list[Rule]) -> Verdict:
    top = max(rule.decision.weight for rule in matched)
    winners = [rule for rule in matched if rule.decision.weight == top]
    ordered = winners + [rule for rule in matched if rule not in winners]
    return Verdict(
        decision=winners[0].decision,
        reason=" ".join(rule.reason for rule in winners),
        rules=tuple(RuleMatch(rule.id, rule.reason) for rule in ordered),
    )


RULE_KEYS = frozenset(
    {"id", "decision", "reason", "fields", "words", "phrases", "patterns", "ignore"}
)


def _parse_rule(entry: object, index: int, source: str) -> Rule:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise ConstitutionError(f"{source}: rule #{index + 1} needs a string 'id'")
    where = f"{source}: rule {entry['id']!r}"
    unknown = sorted(set(entry) - RULE_KEYS)
    if unknown:
        known = ", ".join(sorted(RULE_KEYS))
        raise ConstitutionError(f"{where}: unknown key {', '.join(unknown)}; rules take {known}")
    try:
        decision = Decision(str(entry.get("decision")))
    except ValueError:
        raise ConstitutionError(f"{where}: decision must be flag or block") from None
    if decision is Decision.ALLOW:
        raise ConstitutionError(f"{where}: decision must be flag or block")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConstitutionError(f"{where}: needs a 'reason' sentence")
    return Rule(
        id=entry["id"],
        decision=decision,
        reason=reason.strip(),
        fields=_parse_fields(entry.get("fields", list(FIELDS)), where),
        pattern=_compile(entry, where),
        ignore=_compile_ignore(entry, where),
    )


def _parse_fields(fields: object, where: str) -> tuple[str, ...]:
    if not isinstance(fields, list) or not fields or any(f not in FIELDS for f in fields):
        raise ConstitutionError(f"{where}: fields must be a non-empty list of {', '.join(FIELDS)}")
    return tuple(fields)


def _compile(entry: Mapping[str, Any], where: str) -> re.Pattern[str]:
    """Join words, phrases and patterns into one expression searched over normalised text."""
    terms = _strings(entry, "words", where) + _strings(entry, "phrases", where)
    parts = [_phrase_regex(term, where) for term in terms]
    parts += [_checked_pattern(pattern, where) for pattern in _strings(entry, "patterns", where)]
    if not parts:
        raise ConstitutionError(f"{where}: needs at least one of words, phrases, patterns")
    return re.compile("|".join(parts), re.DOTALL | re.IGNORECASE)


def _compile_ignore(entry: Mapping[str, Any], where: str) -> re.Pattern[str] | None:
    """Harmless phrases (patterns) that contain a rule's terms, blanked out before matching."""
    parts = [_checked_pattern(pattern, where) for pattern in _strings(entry, "ignore", where)]
    return re.compile("|".join(parts), re.DOTALL | re.IGNORECASE) if parts else None


def _checked_pattern(pattern: str, where: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConstitutionError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    return f"(?:{pattern})"


def _phrase_regex(term: str, where: str) -> str:
    """A phrase matches as whole words, with any run of spaces between them."""
    words = fold(term).split()
    if not words:
        raise ConstitutionError(f"{where}: term {term!r} has no visible characters")
    return r"(?<!\w)" + r"\s+".join(re.escape(word) for word in words) + r"(?!\w)"


def _strings(entry: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConstitutionError(f"{where}: {key} must be a list of non-empty strings")
    return values
