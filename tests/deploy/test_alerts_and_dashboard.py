"""The Prometheus rules, their promtool unit tests and the Grafana dashboard: valid for
promtool, every alert tested, and every metric they read one the services really export."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from todostream.observability.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules.yml"
RULE_TESTS = ROOT / "deploy/prometheus/rules.test.yml"
DASHBOARD = ROOT / "deploy/grafana/todostream.json"
PROMTOOL = "/usr/bin/promtool"

# Labels Prometheus itself puts on every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
SERIES_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}
# What Grafana puts in place of its built-in variables; dashboard variables get a placeholder.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*\w+\)$")

# PromQL words that look like identifiers but name neither a metric nor a function.
KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
)
LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
MATCH_OPERATORS = frozenset({"=", "!=", "=~", "!~"})
PROMQL_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w:]))
    | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>@,(){}\[\]])
    """,
    re.VERBOSE,
)


@dataclass
class PromqlNames:
    """The metric and label names one PromQL expression reads."""

    metrics: set[str] = field(default_factory=set)
    matcher_labels: set[tuple[str, str]] = field(default_factory=set)
    grouping_labels: set[str] = field(default_factory=set)


def promql_tokens(expr: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(expr):
        match = PROMQL_TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def names_in_promql(expr: str) -> PromqlNames:
    """Every metric name an expression selects, with the labels it matches and groups by.

    An identifier is a metric name unless it is a keyword, names a function or aggregation,
    or sits in a label matcher, a label list or a `[range]`: a misspelt metric is never
    mistaken for something else and skipped."""
    names = PromqlNames()
    tokens = promql_tokens(expr)
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if text == "[":
            index = _closing(tokens, index, "]")
        elif text == "{":
            previous = tokens[index - 1] if index else ("", "")
            metric = previous[1] if previous[1] in names.metrics else ""
            end = _closing(tokens, index, "}")
            _read_matchers(tokens[index + 1 : end], metric, names)
            index = end
        elif kind == "ident" and text.lower() in LABEL_LIST_KEYWORDS and following == "(":
            end = _closing(tokens, index + 1, ")")
            labels = tokens[index + 2 : end]
            names.grouping_labels.update(label for kind, label in labels if kind == "ident")
            index = end
        elif kind == "ident" and text.lower() not in KEYWORDS and not _calls(following):
            names.metrics.add(text)
        index += 1
    return names


def _calls(following: str) -> bool:
    """A function or aggregation: `rate(`, `sum(`, `sum by (`, `sum without (`."""
    return following == "(" or following.lower() in {"by", "without"}


def _closing(tokens: list[tuple[str, str]], start: int, closer: str) -> int:
    for index in range(start + 1, len(tokens)):
        if tokens[index][1] == closer:
            return index
    raise ValueError(f"no {closer!r} after token {start}")


def _read_matchers(tokens: list[tuple[str, str]], metric: str, names: PromqlNames) -> None:
    for index, (kind, label) in enumerate(tokens[:-2]):
        operator, value = tokens[index + 1][1], tokens[index + 2]
        if kind != "ident" or operator not in MATCH_OPERATORS:
            continue
        if label == "__name__":
            if operator != "=":
                raise ValueError("a metric chosen by a pattern cannot be checked")
            metric = value[1][1:-1]
            names.metrics.add(metric)
        else:
            names.matcher_labels.add((metric, label))
    if not metric:
        names.metrics.add("<a selector without a metric name>")


def exported_series() -> dict[str, frozenset[str]]:
    """Each series name a todostream process exposes, with the labels it can carry."""
    metrics = Metrics(CollectorRegistry())
    # prometheus_client keeps label names on the metric object only.
    labels_of = {
        family.name: frozenset(collector._labelnames)
        for collector in vars(metrics).values()
        if isinstance(collector, MetricWrapperBase)
        for family in collector.describe()
    }
    series = {"up": TARGET_LABELS}
    for family in metrics.registry.collect():
        labels = labels_of[family.name] | TARGET_LABELS
        for suffix in SERIES_SUFFIXES[family.type]:
            series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = dashboard["templating"]["list"]
    return variables


def as_promql(expr: str, variables: Iterable[str]) -> str:
    """A dashboard expression with Grafana's variables replaced as Grafana would."""
    known = set(variables)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        if name in known:
            return "placeholder"
        raise ValueError(f"{expr!r} uses ${name}, which the dashboard does not define")

    return GRAFANA_VARIABLE.sub(substitute, expr)


def dashboard_exprs() -> list[str]:
    """Every PromQL expression the dashboard sends: panel targets and variable queries."""
    dashboard = load_dashboard()
    variables = dashboard_variables(dashboard)
    names = [variable["name"] for variable in variables]
    exprs = [
        as_promql(target["expr"], names)
        for panel in all_panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in variables:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            assert match, f"variable {variable['name']} should use label_values(selector, label)"
            exprs.append(as_promql(match["selector"], names))
    return exprs


def unknown_names(exprs: Iterable[str], recorded: set[str]) -> list[str]:
    """Metric and label names the expressions read that no todostream process exports."""
    exported = exported_series()
    every_label = set().union(*exported.values(), {"le"})
    problems = []
    for expr in exprs:
        names = names_in_promql(expr)
        for metric in sorted(names.metrics - exported.keys() - recorded):
            problems.append(f"metric {metric} in {expr}")
        for metric, label in sorted(names.matcher_labels):
            allowed = exported.get(metric, every_label)
            if label not in allowed:
                problems.append(f"label {label} on {metric or 'a selector'} in {expr}")
        for label in sorted(names.grouping_labels - every_label):
            problems.append(f"label {label} in {expr}")
    return problems


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules_file() -> None:
    result = run_promtool("check", "rules", RULES)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(list(rules()))} rules found" in result.stdout


def test_the_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", RULE_TESTS)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}

    assert alert_names(), "rules.yml should define alerts"
    assert set(alert_names()) - firing == set()
    assert set(alert_names()) - quiet == set()


def test_every_alert_has_a_severity_and_explains_itself() -> None:
    for rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert {"summary", "description", "runbook"} <= rule["annotations"].keys()


def test_the_dashboard_has_unique_panel_ids_and_a_query_in_every_graph() -> None:
    dashboard = load_dashboard()
    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]

    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(target.get("expr") for target in panel["targets"]), panel["title"]
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    assert "DS_PROMETHEUS" in {var["name"] for var in dashboard_variables(dashboard)}
    assert dashboard["schemaVersion"] >= 39


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    rules_file = tmp_path / "dashboard.rules.yml"
    records = [{"record": f"dashboard:query_{n}", "expr": e} for n, e in enumerate(exprs)]
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))

    result = run_promtool("check", "rules", rules_file)

    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_read_only_metrics_the_services_export() -> None:
    exprs = [rule["expr"] for rule in rules()]

    assert unknown_names(exprs, recorded_names()) == []


def test_the_dashboard_reads_only_metrics_the_services_export_or_rules_record() -> None:
    assert unknown_names(dashboard_exprs(), recorded_names()) == []


def test_the_metric_check_catches_a_misspelt_metric_or_label() -> None:
    exprs = [
        'sum by (job) (rate(http_request_total{status_code=~"5.."}[5m]))',
        "sum by (endpoint) (rate(http_requests_total{route='/api/todos'}[5m]))",
        "max by (partition, grop) (todo_consumer_lag_messages)",
        "job:http_5xx_ratio:rate1h > 0.05",
        'count({job="todostream-backend"})',
    ]

    assert unknown_names(exprs, recorded_names()) == [
        f"metric http_request_total in {exprs[0]}",
        f"label route on http_requests_total in {exprs[1]}",
        f"label grop in {exprs[2]}",
        f"metric job:http_5xx_ratio:rate1h in {exprs[3]}",
        f"metric <a selector without a metric name> in {exprs[4]}",
    ]


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        pytest.param(
            "histogram_quantile(0.99, sum by (job, le) (rate(a_bucket{endpoint!~'x|y'}[5m])))",
            {"a_bucket"},
            id="functions-labels-and-ranges",
        ),
        pytest.param(
            "a > 1e3 and on (job) group_left (instance) b offset 10m or c @ start()",
            {"a", "b", "c"},
            id="keywords-numbers-and-modifiers",
        ),
        pytest.param(
            'SUM BY (group) (max_over_time(a[1h30m:5m])) / ignoring (le) b{__name__="c"}',
            {"a", "b", "c"},
            id="upper-case-subqueries-and-name-matchers",
        ),
        pytest.param("rate(inf_total[5m]) > Inf != bool NaN", {"inf_total"}, id="inf-and-nan"),
    ],
)
def test_metric_names_are_read_from_promql(expr: str, metrics: set[str]) -> None:
    assert names_in_promql(expr).metrics == metrics
