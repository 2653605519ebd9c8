"""Validating resources the way an API server would: built-in kinds with kubernetes-validate,
custom resources with the openAPIV3Schema of their CRD version."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"

Schema = dict[str, Any]


def builtin_errors(resource: dict[str, Any]) -> list[str]:
    """Strict validation against the Kubernetes schemas: unknown fields are errors too, and so
    is a kind Kubernetes does not have."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        return [f"{path}: {exc.message}"]
    return []


def crd_schemas(directory: Path) -> dict[tuple[str, str], Schema]:
    """openAPIV3Schema by (apiVersion, kind) for every served version of every CRD file."""
    schemas: dict[tuple[str, str], Schema] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            spec = document["spec"]
            for version in spec["versions"]:
                if version.get("served", False):
                    api_version = f"{spec['group']}/{version['name']}"
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[(api_version, spec["names"]["kind"])] = schema
    return schemas


def closed(schema: Schema) -> Schema:
    """The schema with unknown fields refused where an API server refuses them.

    A structural schema lists an object's fields under `properties`; a field it does not list
    is unknown (dropped, or refused under strict field validation) unless the object says
    `x-kubernetes-preserve-unknown-fields` or gives `additionalProperties` itself. jsonschema
    allows unlisted fields, so say it explicitly. Branches of anyOf/oneOf/allOf only constrain
    and are left as they are.
    """
    result = copy.deepcopy(schema)
    _close(result)
    return result


def _close(node: Schema) -> None:
    properties = node.get("properties")
    if isinstance(properties, dict):
        preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
        if not preserve and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for child in properties.values():
            _close(child)
    if isinstance(node.get("items"), dict):
        _close(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        _close(node["additionalProperties"])


def custom_resource_errors(resource: dict[str, Any], schema: Schema) -> list[str]:
    validator = jsonschema.Draft7Validator(closed(schema))
    errors = []
    for error in validator.iter_errors(resource):
        path = ".".join(str(part) for part in error.absolute_path)
        errors.append(f"{path}: {error.message}")
    metadata = resource.get("metadata", {})
    if not metadata.get("name"):
        errors.append("metadata.name: required")
    if not metadata.get("namespace"):
        errors.append("metadata.namespace: every custom resource here is namespaced")
    return errors
