"""A small model of Prometheus's Kubernetes pod discovery and target relabeling.

Enough of both to say which targets a scrape config yields for the pods a set of manifests
would create: the `__meta_kubernetes_pod_*` labels discovery attaches (one target per declared
container port, as Prometheus's pod role does), and the `keep`, `drop`, `replace` and `labelmap`
actions with Prometheus's semantics: regexes anchored at both ends, source label values joined
by the separator (missing labels read as empty), Go-style `$1`/`${1}` references in
replacements, an empty replacement result deleting the target label.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Labels = dict[str, str]

DAPR_SIDECAR_PORTS = (("dapr-http", 3500), ("dapr-grpc", 50001), ("dapr-internal", 50002))
DAPR_DEFAULT_METRICS_PORT = 9090

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_REFERENCE = re.compile(r"\$(?:\{(\w+)\}|(\w+))|\$\$")


class UnsupportedRelabelConfig(ValueError):
    """The config uses a relabel action or discovery role this model does not implement."""


@dataclass(frozen=True)
class RelabelRule:
    action: str = "replace"
    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    regex: str = "(.*)"
    target_label: str = ""
    replacement: str = "$1"

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RelabelRule:
        rule = cls(
            action=str(config.get("action", "replace")).lower(),
            source_labels=tuple(config.get("source_labels", ())),
            separator=str(config.get("separator", ";")),
            regex=str(config.get("regex", "(.*)")),
            target_label=str(config.get("target_label", "")),
            replacement=str(config.get("replacement", "$1")),
        )
        if rule.action not in ("keep", "drop", "replace", "labelmap"):
            raise UnsupportedRelabelConfig(f"relabel action {rule.action!r} is not modelled")
        return rule

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(f"^(?:{self.regex})$")


def expand(template: str, match: re.Match[str]) -> str:
    """Go's regexp.Expand: `$name` takes the longest run of word characters as the name, a
    reference to a group that does not exist (or did not take part) expands to nothing."""

    def substitute(reference: re.Match[str]) -> str:
        if reference.group(0) == "$$":
            return "$"
        name = reference.group(1) or reference.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except IndexError:
            return ""
        return value or ""

    return _REFERENCE.sub(substitute, template)


def relabel(rules: Iterable[RelabelRule], labels: Mapping[str, str]) -> Labels | None:
    """The labels after every rule, or None when a keep or drop rule discards the target."""
    result = dict(labels)
    for rule in rules:
        value = rule.separator.join(result.get(name, "") for name in rule.source_labels)
        match = rule.pattern.match(value)
        if rule.action == "keep" and match is None:
            return None
        if rule.action == "drop" and match is not None:
            return None
        if rule.action == "replace" and match is not None:
            _replace(result, rule, match)
        if rule.action == "labelmap":
            for name, label_value in list(result.items()):
                name_match = rule.pattern.match(name)
                if name_match is not None:
                    result[expand(rule.replacement, name_match)] = label_value
    return result


def _replace(labels: Labels, rule: RelabelRule, match: re.Match[str]) -> None:
    target = expand(rule.target_label, match)
    if not _LABEL_NAME.fullmatch(target):
        return
    value = expand(rule.replacement, match)
    if value:
        labels[target] = value
    else:
        labels.pop(target, None)


def sanitize(name: str) -> str:
    return _INVALID_LABEL_CHARS.sub("_", name)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, number, protocol)


@dataclass(frozen=True)
class Pod:
    """A running pod as discovery sees it."""

    name: str
    namespace: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[Container, ...] = ()
    node: str = "node-1"
    phase: str = "Running"
    controller: tuple[str, str] = ("ReplicaSet", "")

    def discovered_targets(self) -> list[Labels]:
        """One label set per declared container port, one per container without ports."""
        common = self._pod_labels()
        targets = []
        for container in self.containers:
            base = {
                **common,
                "__meta_kubernetes_pod_container_name": container.name,
                "__meta_kubernetes_pod_container_image": container.image,
                "__meta_kubernetes_pod_container_init": "false",
            }
            if not container.ports:
                targets.append({**base, "__address__": self.ip})
            for port_name, number, protocol in container.ports:
                targets.append(
                    {
                        **base,
                        "__address__": join_host_port(self.ip, number),
                        "__meta_kubernetes_pod_container_port_name": port_name,
                        "__meta_kubernetes_pod_container_port_number": str(number),
                        "__meta_kubernetes_pod_container_port_protocol": protocol,
                    }
                )
        return targets

    def _pod_labels(self) -> Labels:
        labels = {
            "__meta_kubernetes_namespace": self.namespace,
            "__meta_kubernetes_pod_name": self.name,
            "__meta_kubernetes_pod_ip": self.ip,
            "__meta_kubernetes_pod_ready": "true",
            "__meta_kubernetes_pod_phase": self.phase,
            "__meta_kubernetes_pod_node_name": self.node,
            "__meta_kubernetes_pod_host_ip": "192.0.2.10",
            "__meta_kubernetes_pod_uid": f"uid-{self.name}",
            "__meta_kubernetes_pod_controller_kind": self.controller[0],
            "__meta_kubernetes_pod_controller_name": self.controller[1],
        }
        for name, value in self.labels.items():
            labels[f"__meta_kubernetes_pod_label_{sanitize(name)}"] = value
            labels[f"__meta_kubernetes_pod_labelpresent_{sanitize(name)}"] = "true"
        for name, value in self.annotations.items():
            labels[f"__meta_kubernetes_pod_annotation_{sanitize(name)}"] = value
            labels[f"__meta_kubernetes_pod_annotationpresent_{sanitize(name)}"] = "true"
        return labels


def with_dapr_sidecar(pod: Pod) -> Pod:
    """The pod as it runs after Dapr's injector added daprd, when it is annotated to."""
    if pod.annotations.get("dapr.io/enabled") != "true":
        return pod
    ports = [(name, number, "TCP") for name, number in DAPR_SIDECAR_PORTS]
    if pod.annotations.get("dapr.io/enable-metrics", "true") == "true":
        metrics_port = int(pod.annotations.get("dapr.io/metrics-port", DAPR_DEFAULT_METRICS_PORT))
        ports.append(("dapr-metrics", metrics_port, "TCP"))
    daprd = Container(name="daprd", image="daprio/daprd", ports=tuple(ports))
    return Pod(
        name=pod.name,
        namespace=pod.namespace,
        ip=pod.ip,
        labels=pod.labels,
        annotations=pod.annotations,
        containers=(*pod.containers, daprd),
        node=pod.node,
        phase=pod.phase,
        controller=pod.controller,
    )


@dataclass(frozen=True)
class Target:
    job: str
    address: str
    labels: tuple[tuple[str, str], ...]

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


def scrape_targets(scrape_config: Mapping[str, Any], pods: Iterable[Pod]) -> list[Target]:
    """Targets of one scrape job, before Prometheus would collapse identical ones."""
    job = str(scrape_config["job_name"])
    rules = [RelabelRule.parse(rule) for rule in scrape_config.get("relabel_configs", [])]
    targets = []
    for pod in _discovered_pods(scrape_config, pods):
        for discovered in pod.discovered_targets():
            initial = {
                "job": job,
                "__scheme__": str(scrape_config.get("scheme", "http")),
                "__metrics_path__": str(scrape_config.get("metrics_path", "/metrics")),
                **discovered,
            }
            final = relabel(rules, initial)
            if final is None or not final.get("__address__"):
                continue
            final.setdefault("instance", final["__address__"])
            visible = sorted((k, v) for k, v in final.items() if not k.startswith("__"))
            targets.append(Target(job=job, address=final["__address__"], labels=tuple(visible)))
    return targets


def _discovered_pods(scrape_config: Mapping[str, Any], pods: Iterable[Pod]) -> list[Pod]:
    found: list[Pod] = []
    pods = list(pods)
    for sd_config in scrape_config.get("kubernetes_sd_configs", []):
        if sd_config.get("role") != "pod":
            raise UnsupportedRelabelConfig(f"discovery role {sd_config.get('role')!r}")
        names = (sd_config.get("namespaces") or {}).get("names")
        found.extend(pod for pod in pods if not names or pod.namespace in names)
    return found
