"""Building the kustomizations and finding things in what they produce."""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
KUSTOMIZATIONS = {
    "base": DEPLOY_DIR / "k8s" / "base",
    "local": DEPLOY_DIR / "k8s" / "overlays" / "local",
}
CRD_DIR = DEPLOY_DIR / "crds"

Resource = dict[str, Any]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
CLUSTER_SCOPED_KINDS = ("Namespace", "ClusterRole", "ClusterRoleBinding")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH; `make system-deps` installs it")
    return path


@functools.cache
def _build_text(directory: Path) -> str:
    completed = subprocess.run(
        [require_tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{completed.stderr}")
    return completed.stdout


def build(name: str) -> list[Resource]:
    """The resources `kubectl kustomize` renders for a kustomization, as fresh dicts."""
    documents = yaml.safe_load_all(_build_text(KUSTOMIZATIONS[name]))
    return [copy.deepcopy(document) for document in documents if document]


def key(resource: Resource) -> str:
    metadata = resource["metadata"]
    namespace = metadata.get("namespace", "")
    return f"{resource['kind']}/{namespace}/{metadata['name']}"


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [resource for resource in resources if resource["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    """The one resource of a kind whose name is `name` or `name-<generator hash>`."""
    pattern = re.compile(re.escape(name) + r"(-[a-z0-9]{10})?")
    found = [
        resource
        for resource in of_kind(resources, kind)
        if pattern.fullmatch(resource["metadata"]["name"])
    ]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name}, found {len(found)}")
    return found[0]


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    for resource in resources:
        if resource["kind"] in WORKLOAD_KINDS:
            yield resource


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def pod_annotations(workload: Resource) -> dict[str, str]:
    annotations: dict[str, str] = workload["spec"]["template"]["metadata"].get("annotations", {})
    return annotations


def containers(workload: Resource) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_spec(workload)["containers"]
    return found


def app_deployments(resources: list[Resource]) -> dict[str, Resource]:
    """The todostream Deployments by component (backend, notification, audit)."""
    return {
        pod_labels(deployment)["app.kubernetes.io/component"]: deployment
        for deployment in of_kind(resources, "Deployment")
        if pod_labels(deployment).get("app.kubernetes.io/name") == "todostream"
    }


def env_by_name(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
