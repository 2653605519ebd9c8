"""Dapr-format pub/sub Component files: the one place that says which broker is used."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_TYPES = ("pubsub.in-memory", "pubsub.kafka", "pubsub.redis")


class ComponentError(ValueError):
    """The component file is unreadable or not a pub/sub component we support."""


@dataclass(frozen=True, slots=True)
class Component:
    """A parsed component: its name, `spec.type` and metadata with secrets resolved."""

    name: str
    type: str
    version: str = "v1"
    metadata: Mapping[str, str] = field(default_factory=dict)
    source: str = "<memory>"

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.metadata.get(key, default)

    def get_int(self, key: str, default: int) -> int:
        value = self.metadata.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ComponentError(
                f"{self.source}: metadata {key} must be an integer, got {value!r}"
            ) from None

    def get_bool(self, key: str, default: bool) -> bool:
        value = (self.metadata.get(key) or "").strip().lower()
        if value == "":
            return default
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no"):
            return False
        raise ComponentError(f"{self.source}: metadata {key} must be true or false, got {value!r}")

    def get_duration_ms(self, key: str, default_ms: int) -> int:
        """Dapr durations: Go-style `10s`, `500ms`, `1m30s`, or a bare number of milliseconds."""
        value = self.metadata.get(key)
        if value is None or value == "":
            return default_ms
        return parse_duration_ms(value, f"{self.source}: metadata {key}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)", re.ASCII)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


_MILLISECONDS = re.compile(r"\d+", re.ASCII)


def parse_duration_ms(value: str, where: str) -> int:
    text = value.strip()
    if _MILLISECONDS.fullmatch(text):
        return int(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ComponentError(f"{where} must be a duration like 10s or 500ms, got {value!r}")
    return int(sum(float(number) * _UNIT_MS[unit] for number, unit in parts))


def load_component(path: Path, environ: Mapping[str, str] | None = None) -> Component:
    """Read a Dapr Component YAML file; secretKeyRef values come from the environment."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ComponentError(f"cannot read component {path}: {exc}") from exc
    return parse_component(document, str(path), os.environ if environ is None else environ)


def parse_component(document: Any, source: str, environ: Mapping[str, str]) -> Component:
    if not isinstance(document, dict) or document.get("kind") != "Component":
        raise ComponentError(f"{source}: expected kind: Component")
    if not str(document.get("apiVersion", "")).startswith("dapr.io/"):
        raise ComponentError(f"{source}: expected apiVersion dapr.io/v1alpha1")
    metadata, spec = document.get("metadata") or {}, document.get("spec") or {}
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        raise ComponentError(f"{source}: metadata and spec must be mappings")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ComponentError(f"{source}: metadata.name is required")
    if spec.get("type") not in SUPPORTED_TYPES:
        supported = ", ".join(SUPPORTED_TYPES)
        raise ComponentError(f"{source}: spec.type {spec.get('type')!r} is not one of {supported}")
    return Component(
        name=name,
        type=spec["type"],
        version=str(spec.get("version", "v1")),
        metadata=_metadata(spec.get("metadata") or [], source, environ),
        source=source,
    )


def _metadata(items: Any, source: str, environ: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(items, list):
        raise ComponentError(f"{source}: spec.metadata must be a list of name/value pairs")
    result: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ComponentError(f"{source}: every spec.metadata entry needs a name")
        if item["name"] in result:
            raise ComponentError(f"{source}: metadata {item['name']} is given twice")
        result[item["name"]] = _value(item, source, environ)
    return result


def _value(item: dict[str, Any], source: str, environ: Mapping[str, str]) -> str:
    """A literal `value`, or a `secretKeyRef` read from the environment in direct mode.

    Dapr resolves secretKeyRef from its secret store; without a sidecar the reference
    {name: kafka-auth, key: password} is read from the variable KAFKA_AUTH_PASSWORD.
    """
    if "secretKeyRef" not in item:
        value = item.get("value", "")
        return "" if value is None else str(value)
    ref = item["secretKeyRef"]
    if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
        raise ComponentError(
            f"{source}: metadata {item['name']}: secretKeyRef needs a name and a key"
        )
    variable = re.sub(r"[^A-Za-z0-9]", "_", f"{ref.get('name', '')}_{ref.get('key', '')}").upper()
    if variable not in environ:
        secret = f"{ref.get('name')}/{ref.get('key')}"
        raise ComponentError(
            f"{source}: metadata {item['name']} refers to secret {secret};"
            f" set {variable} in the environment"
        )
    return environ[variable]
