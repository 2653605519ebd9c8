"""Content-policy checks per second on short todos and on the largest todo the API accepts.

The large case is a todo full of trigger words (once quadratic in the rules' patterns:
about 0.65 s per check); it should stay within a few tens of milliseconds.
"""

from __future__ import annotations

import time

from todostream.config import DEFAULTS_DIR
from todostream.domain.constitution import Constitution


def _per_check(rules: Constitution, fields: dict[str, object], rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        rules.check(**fields)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / rounds


def main() -> None:
    rules = Constitution.from_file(DEFAULTS_DIR / "constitution.yaml")
    short = {"title": "Finish the maths assignment", "description": "chapter 4", "tags": ["uni"]}
    large = {
        "title": "exam " * 99 + "exam",
        "description": "exam\u200b " * 1666,
        "tags": ["exam" * 25] * 50,
    }
    print("content policy")
    print(f"  short todo                 {_per_check(rules, short, 2000) * 1e6:8.0f} µs per check")
    print(f"  15 kB todo of trigger words {_per_check(rules, large, 20) * 1e3:7.1f} ms per check")
