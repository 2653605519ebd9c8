"""Reading a Dockerfile and a .dockerignore the way `docker build` does, for static checks."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT, CMD or RUN; None for the shell form."""
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return None
        return value if isinstance(value, list) else None

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """`--from=wheels src dst` as ({"from": "wheels"}, ["src", "dst"])."""
        flags: dict[str, str] = {}
        words = shlex.split(self.arguments)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comments and directives dropped."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1].strip())
            continue
        pending.append(line)
        keyword, _, arguments = " ".join(part for part in pending if part).partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    return result


def stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults (those before the first FROM) and the build stages."""
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.flags_and_words()[1]
            base = substitute(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=base, name=name))
        elif not found:
            if instruction.keyword == "ARG":
                arg_name, _, default = instruction.arguments.partition("=")
                global_args[arg_name.strip()] = default.strip()
        else:
            found[-1].instructions.append(instruction)
    return global_args, found


def substitute(value: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def image_tag(reference: str) -> str | None:
    """The tag of `name[:tag][@digest]`, or None when there is none."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


@dataclass(frozen=True)
class IgnorePattern:
    regex: re.Pattern[str]
    exclude: bool


def ignore_patterns(text: str) -> list[IgnorePattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        cleaned = str(PurePosixPath(line.lstrip("!").strip().lstrip("/")))
        patterns.append(IgnorePattern(re.compile(_pattern_regex(cleaned)), exclude))
    return patterns


def _pattern_regex(pattern: str) -> str:
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return "".join(parts)


def is_ignored(path: str, patterns: list[IgnorePattern]) -> bool:
    """Whether .dockerignore leaves `path` out of the build context: the last pattern that
    matches the path or one of its parent directories decides."""
    candidates = [str(PurePosixPath(path))]
    candidates += [str(parent) for parent in PurePosixPath(path).parents if str(parent) != "."]
    ignored = False
    for pattern in patterns:
        if any(pattern.regex.fullmatch(candidate) for candidate in candidates):
            ignored = pattern.exclude
    return ignored
