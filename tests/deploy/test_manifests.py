"""The Kubernetes manifests and the Dockerfile, checked offline.

Both kustomizations are built with `kubectl kustomize`; built-in kinds are validated strictly
against the Kubernetes 1.30 schemas, Strimzi and Dapr resources against the CRDs checked in
under deploy/crds; Prometheus's configuration goes through promtool and through a model of its
pod discovery and relabeling, applied to the pods the manifests would create.
"""

from __future__ import annotations

import copy
import itertools
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import dockerfile
from tests.deploy.manifests import (
    CLUSTER_SCOPED_KINDS,
    CRD_DIR,
    DEPLOY_DIR,
    KUSTOMIZATIONS,
    REPO_ROOT,
    Resource,
    app_deployments,
    build,
    containers,
    env_by_name,
    key,
    named,
    of_kind,
    pod_annotations,
    pod_labels,
    pod_spec,
    require_tool,
    selects,
    workloads,
)
from tests.deploy.relabel import (
    Container,
    Pod,
    RelabelRule,
    Target,
    relabel,
    scrape_targets,
    with_dapr_sidecar,
)
from tests.deploy.schemas import Schema, builtin_errors, crd_schemas, custom_resource_errors

APP_PORTS = {"backend": 8000, "notification": 8001, "audit": 8002}
APP_COMMANDS = {
    "backend": ["todostream", "api", "--host", "0.0.0.0", "--port", "8000"],
    "notification": ["todostream", "notification", "--host", "0.0.0.0", "--port", "8001"],
    "audit": ["todostream", "audit", "serve", "--host", "0.0.0.0", "--port", "8002"],
}
DAPR_METRICS_PORT = 9090
TOPICS = ("todo-events", "todo-notifications", "todo-audit")
STRIMZI_KINDS = ("Kafka", "KafkaNodePool", "KafkaTopic")
KAFKA_BOOTSTRAP = "todo-kafka-kafka-bootstrap.kafka.svc.cluster.local:9092"


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def resources(request: pytest.FixtureRequest) -> list[Resource]:
    return build(request.param)


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    return build("base")


@pytest.fixture(scope="module")
def local() -> list[Resource]:
    return build("local")


@pytest.fixture(scope="module")
def crds() -> dict[tuple[str, str], Schema]:
    return crd_schemas(CRD_DIR)


def is_custom(resource: Resource) -> bool:
    """Custom resources belong to an API group of their own (kafka.strimzi.io, dapr.io); the
    built-in groups are the core group, the unqualified ones (apps, batch) and *.k8s.io."""
    group = resource["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def config_map_data(resources: list[Resource], name: str) -> dict[str, str]:
    data: dict[str, str] = named(resources, "ConfigMap", name)["data"]
    return data


def command_of(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def app_container(deployment: Resource) -> dict[str, Any]:
    (container,) = [c for c in containers(deployment) if c["name"] == "todostream"]
    return container


# Building and validating


def test_kustomize_builds_every_component(resources: list[Resource]) -> None:
    keys = {key(resource) for resource in resources}

    for component in APP_PORTS:
        assert f"Deployment/todo-app/todostream-{component}" in keys
        assert f"Service/todo-app/todostream-{component}" in keys
    assert {"Namespace//todo-app", "Namespace//kafka", "Job/todo-app/todostream-migrate"} <= keys
    assert {"Component/todo-app/pubsub", "Component/todo-app/pubsub-redis"} <= keys
    assert {"Kafka/kafka/todo-kafka", "KafkaNodePool/kafka/dual-role"} <= keys
    assert {"Deployment/todo-app/prometheus", "Service/todo-app/prometheus"} <= keys
    assert len({key(resource) for resource in resources}) == len(resources), "duplicate resources"


def test_every_built_in_resource_passes_strict_kubernetes_validation(
    resources: list[Resource],
) -> None:
    problems = {
        key(resource): builtin_errors(resource) for resource in resources if not is_custom(resource)
    }

    assert problems, "nothing was validated"
    assert {name: errors for name, errors in problems.items() if errors} == {}


def test_strict_kubernetes_validation_rejects_an_unknown_field(base: list[Resource]) -> None:
    deployment = copy.deepcopy(named(base, "Deployment", "todostream-backend"))
    app_container(deployment)["livenessProbes"] = {}

    assert builtin_errors(deployment) != []


def test_every_custom_resource_matches_the_schema_of_its_crd_version(
    resources: list[Resource], crds: dict[tuple[str, str], Schema]
) -> None:
    custom = [resource for resource in resources if is_custom(resource)]
    missing = [key(r) for r in custom if (r["apiVersion"], r["kind"]) not in crds]
    problems = {
        key(r): custom_resource_errors(r, crds[(r["apiVersion"], r["kind"])])
        for r in custom
        if (r["apiVersion"], r["kind"]) in crds
    }

    assert missing == [], "custom resources without a CRD in deploy/crds"
    assert {r["kind"] for r in custom} == {"Component", *STRIMZI_KINDS}
    assert {name: errors for name, errors in problems.items() if errors} == {}


@pytest.mark.parametrize(
    ("kind", "name", "path", "field"),
    [
        ("Kafka", "todo-kafka", ["spec", "kafka"], "zookeeperConnect"),
        ("Kafka", "todo-kafka", ["spec", "kafka", "listeners", 0], "protocol"),
        ("KafkaNodePool", "dual-role", ["spec", "storage", "volumes", 0], "capacity"),
        ("KafkaTopic", "todo-events", ["spec"], "partitionCount"),
        ("Component", "pubsub", ["spec", "metadata", 0], "valueFrom"),
        ("Component", "pubsub", ["spec"], "scope"),
    ],
)
def test_crd_validation_rejects_a_field_the_schema_does_not_list(
    base: list[Resource],
    crds: dict[tuple[str, str], Schema],
    kind: str,
    name: str,
    path: list[str | int],
    field: str,
) -> None:
    resource = copy.deepcopy(named(base, kind, name))
    node: Any = resource
    for step in path:
        node = node[step]
    node[field] = "unexpected"

    errors = custom_resource_errors(resource, crds[(resource["apiVersion"], kind)])

    assert any(field in error for error in errors), errors


def test_crd_validation_accepts_free_form_fields_where_the_schema_preserves_them(
    base: list[Resource], crds: dict[tuple[str, str], Schema]
) -> None:
    kafka = copy.deepcopy(named(base, "Kafka", "todo-kafka"))
    kafka["spec"]["kafka"]["config"]["log.retention.hours"] = 48

    assert custom_resource_errors(kafka, crds[(kafka["apiVersion"], "Kafka")]) == []


def test_the_crd_directory_holds_every_file_its_readme_lists() -> None:
    readme = (CRD_DIR / "README.md").read_text(encoding="utf-8")
    cells = {cell.strip() for cell in readme.split("|")}
    listed = {cell for cell in cells if cell.endswith(".yaml") and "/" not in cell}

    assert listed == {path.name for path in CRD_DIR.glob("*.yaml")}
    assert len(listed) == 5


# Namespaces


def test_every_resource_names_its_namespace_and_only_strimzi_lives_in_kafka(
    resources: list[Resource],
) -> None:
    for resource in resources:
        namespace = resource["metadata"].get("namespace")
        if resource["kind"] in CLUSTER_SCOPED_KINDS:
            assert namespace is None, key(resource)
        elif resource["kind"] in STRIMZI_KINDS:
            assert namespace == "kafka", key(resource)
        else:
            assert namespace == "todo-app", key(resource)


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_no_kustomization_sets_a_global_namespace(name: str) -> None:
    kustomization = yaml.safe_load((KUSTOMIZATIONS[name] / "kustomization.yaml").read_text())

    assert "namespace" not in kustomization


# Workloads and services


def test_every_workload_selector_matches_its_pod_template_labels(
    resources: list[Resource],
) -> None:
    for workload in workloads(resources):
        if workload["kind"] == "Job":
            continue
        selector = workload["spec"]["selector"]
        assert set(selector) == {"matchLabels"}, key(workload)
        assert selects(selector["matchLabels"], pod_labels(workload)), key(workload)


def test_no_two_workloads_share_a_selector(resources: list[Resource]) -> None:
    for workload in workloads(resources):
        if workload["kind"] == "Job":
            continue
        matching = [
            key(other)
            for other in workloads(resources)
            if selects(workload["spec"]["selector"]["matchLabels"], pod_labels(other))
        ]
        assert matching == [key(workload)]


def test_every_service_selects_the_pods_of_exactly_one_workload(
    resources: list[Resource],
) -> None:
    for service in of_kind(resources, "Service"):
        selector = service["spec"]["selector"]
        selected = [
            key(workload)
            for workload in workloads(resources)
            if workload["metadata"]["namespace"] == service["metadata"]["namespace"]
            and selects(selector, pod_labels(workload))
        ]
        assert len(selected) == 1, (key(service), selected)


def test_every_service_target_port_is_a_port_of_the_containers_it_selects(
    resources: list[Resource],
) -> None:
    for service in of_kind(resources, "Service"):
        (workload,) = [
            w
            for w in workloads(resources)
            if w["metadata"]["namespace"] == service["metadata"]["namespace"]
            and selects(service["spec"]["selector"], pod_labels(w))
        ]
        ports = [port for c in containers(workload) for port in c.get("ports", [])]
        for service_port in service["spec"]["ports"]:
            target = service_port.get("targetPort", service_port["port"])
            matches = [p for p in ports if target in (p["containerPort"], p.get("name"))]
            assert len(matches) == 1, (key(service), target)
            assert matches[0]["containerPort"] == service_port["port"], key(service)


def test_the_services_run_the_documented_commands_on_their_ports(
    resources: list[Resource],
) -> None:
    deployments = app_deployments(resources)

    assert set(deployments) == set(APP_PORTS)
    for component, deployment in deployments.items():
        container = app_container(deployment)
        assert command_of(container) == APP_COMMANDS[component]
        assert [p["containerPort"] for p in container["ports"]] == [APP_PORTS[component]]
        service = named(resources, "Service", f"todostream-{component}")
        assert [p["port"] for p in service["spec"]["ports"]] == [APP_PORTS[component]]


def test_the_app_pods_carry_the_recommended_labels(resources: list[Resource]) -> None:
    for component, deployment in app_deployments(resources).items():
        expected = {
            "app.kubernetes.io/name": "todostream",
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "todostream",
        }
        assert expected.items() <= pod_labels(deployment).items()
        assert expected.items() <= deployment["metadata"]["labels"].items()


def test_the_dapr_annotations_name_each_app_and_its_container_port(
    resources: list[Resource],
) -> None:
    app_ids = []
    for component, deployment in app_deployments(resources).items():
        annotations = pod_annotations(deployment)
        assert annotations["dapr.io/enabled"] == "true"
        assert annotations["dapr.io/app-port"] == str(APP_PORTS[component])
        assert int(annotations["dapr.io/app-port"]) in {
            p["containerPort"] for p in app_container(deployment)["ports"]
        }
        assert annotations["dapr.io/enable-metrics"] == "true"
        assert annotations["dapr.io/metrics-port"] == str(DAPR_METRICS_PORT)
        app_ids.append(annotations["dapr.io/app-id"])
    assert len(set(app_ids)) == len(APP_PORTS)


def test_the_app_pods_probe_healthz_and_readyz_and_bound_their_resources(
    resources: list[Resource],
) -> None:
    for deployment in app_deployments(resources).values():
        container = app_container(deployment)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        (port,) = container["ports"]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


def test_every_pod_runs_as_a_numeric_non_root_user_with_a_read_only_root(
    resources: list[Resource],
) -> None:
    for workload in workloads(resources):
        pod_context = pod_spec(workload).get("securityContext", {})
        for container in containers(workload):
            context = {**pod_context, **container.get("securityContext", {})}
            where = f"{key(workload)} {container['name']}"
            assert context.get("runAsNonRoot") is True, where
            assert isinstance(context.get("runAsUser"), int), where
            assert context["runAsUser"] > 0, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where


def test_the_todostream_pods_get_a_writable_tmp_and_nothing_else_writable(
    resources: list[Resource],
) -> None:
    todostream = [
        w for w in workloads(resources) if pod_labels(w)["app.kubernetes.io/name"] == "todostream"
    ]

    assert len(todostream) == len(APP_PORTS) + 1
    for workload in todostream:
        volumes = {volume["name"]: volume for volume in pod_spec(workload)["volumes"]}
        for container in containers(workload):
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], key(workload)
            writable = [path for path, mount in mounts.items() if not mount.get("readOnly")]
            assert writable == ["/tmp"], key(workload)


def test_the_app_environment_comes_from_the_secret_and_the_shared_config(
    resources: list[Resource],
) -> None:
    for deployment in app_deployments(resources).values():
        container = app_container(deployment)
        env = env_by_name(container)
        for name in ("DATABASE_URL", "AUTH_JWT_SECRET"):
            reference = env[name]["valueFrom"]["secretKeyRef"]
            assert reference == {"name": "todostream-secrets", "key": name}
        (source,) = container["envFrom"]
        config = named(resources, "ConfigMap", "todostream-config")
        assert source["configMapRef"]["name"] == config["metadata"]["name"]
        assert config["data"] == {
            "PUBSUB_MODE": "direct",
            "PUBSUB_COMPONENT": "/etc/todostream/pubsub.yaml",
            "AUTH_ANONYMOUS": "false",
            "LOG_FORMAT": "json",
        }
        assert "PROMETHEUS_MULTIPROC_DIR" not in env


def test_the_pubsub_component_path_is_a_file_mounted_from_the_component_config_map(
    resources: list[Resource],
) -> None:
    path = PurePosixPath(config_map_data(resources, "todostream-config")["PUBSUB_COMPONENT"])
    pubsub = named(resources, "ConfigMap", "todostream-pubsub")

    for deployment in app_deployments(resources).values():
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        (mount,) = [
            m
            for m in app_container(deployment)["volumeMounts"]
            if PurePosixPath(m["mountPath"]) == path.parent
        ]
        assert volumes[mount["name"]]["configMap"]["name"] == pubsub["metadata"]["name"]
        assert path.name in pubsub["data"]


def test_the_migrate_job_runs_todostream_migrate_without_a_dapr_sidecar(
    resources: list[Resource],
) -> None:
    job = named(resources, "Job", "todostream-migrate")
    (container,) = containers(job)

    assert command_of(container) == ["todostream", "migrate"]
    assert container["image"] == app_container(app_deployments(resources)["backend"])["image"]
    assert env_by_name(container)["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "todostream-secrets",
        "key": "DATABASE_URL",
    }
    assert "dapr.io/enabled" not in pod_annotations(job)
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")


def test_todostream_accepts_the_configuration_the_local_overlay_gives_its_pods(
    local: list[Resource], tmp_path: Path
) -> None:
    from todostream.config import PubSubMode, load_settings

    component = tmp_path / "pubsub.yaml"
    component.write_text(config_map_data(local, "todostream-pubsub")["pubsub.yaml"])
    secrets = named(local, "Secret", "todostream-secrets")["stringData"]
    environment = {**config_map_data(local, "todostream-config"), **secrets}
    environment["PUBSUB_COMPONENT"] = str(component)

    settings = load_settings(**{name.lower(): value for name, value in environment.items()})

    assert settings.pubsub_mode is PubSubMode.DIRECT
    assert settings.auth_anonymous is False
    assert settings.database_url.startswith("postgresql+asyncpg://")


# Pub/sub components


def component_metadata(component: Resource) -> dict[str, Any]:
    return {
        item["name"]: item.get("value", item.get("secretKeyRef"))
        for item in component["spec"]["metadata"]
    }


def test_the_kafka_component_reaches_the_strimzi_bootstrap_listener(
    resources: list[Resource],
) -> None:
    component = named(resources, "Component", "pubsub")
    metadata = component_metadata(component)
    kafka = named(resources, "Kafka", "todo-kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    name, namespace = kafka["metadata"]["name"], kafka["metadata"]["namespace"]

    assert component["spec"]["type"] == "pubsub.kafka"
    assert metadata["brokers"] == KAFKA_BOOTSTRAP
    assert f"{name}-kafka-bootstrap.{namespace}.svc.cluster.local:9092" == KAFKA_BOOTSTRAP
    assert (listener["port"], listener["type"], listener["tls"]) == (9092, "internal", False)
    assert "authentication" not in listener
    assert metadata["authType"] == "none"
    assert metadata["consumerGroup"] == "todo-app"
    assert metadata["createTopics"] == "false"
    assert metadata["initialOffset"] == "oldest"


def test_the_redis_component_reads_its_password_from_a_secret(resources: list[Resource]) -> None:
    component = named(resources, "Component", "pubsub-redis")
    metadata = component_metadata(component)

    assert component["spec"]["type"] == "pubsub.redis"
    assert metadata["redisHost"] == "redis.todo-app.svc.cluster.local:6379"
    assert metadata["redisPassword"] == {"name": "redis-auth", "key": "password"}
    assert metadata["consumerID"] == "todo-app"
    assert {"processingTimeout", "redeliverInterval", "maxLenApprox"} <= set(metadata)


def test_the_mounted_component_files_are_the_dapr_components(resources: list[Resource]) -> None:
    files = config_map_data(resources, "todostream-pubsub")

    assert yaml.safe_load(files["pubsub.yaml"]) == named(resources, "Component", "pubsub")
    assert yaml.safe_load(files["pubsub-redis.yaml"]) == named(
        resources, "Component", "pubsub-redis"
    )


def test_each_consumer_service_reads_in_its_own_group_in_direct_mode(
    resources: list[Resource],
) -> None:
    from todostream.pubsub.component import parse_component
    from todostream.pubsub.factory import consumer_group

    files = config_map_data(resources, "todostream-pubsub")
    kafka = parse_component(yaml.safe_load(files["pubsub.yaml"]), "pubsub.yaml", {})
    redis = parse_component(
        yaml.safe_load(files["pubsub-redis.yaml"]),
        "pubsub-redis.yaml",
        {"REDIS_AUTH_PASSWORD": "from-the-secret"},
    )

    for component in (kafka, redis):
        groups = {consumer_group(component, service) for service in ("notification", "audit")}
        assert groups == {"todo-app-notification", "todo-app-audit"}
    assert redis.get("redisPassword") == "from-the-secret"


def test_the_apps_can_read_the_redis_password_dapr_reads(resources: list[Resource]) -> None:
    for deployment in app_deployments(resources).values():
        reference = env_by_name(app_container(deployment))["REDIS_AUTH_PASSWORD"]
        assert reference["valueFrom"]["secretKeyRef"] == {
            "name": "redis-auth",
            "key": "password",
            "optional": True,
        }


# Strimzi


def test_kafka_runs_in_kraft_mode_with_node_pools_and_no_zookeeper(
    resources: list[Resource],
) -> None:
    kafka = named(resources, "Kafka", "todo-kafka")

    assert kafka["metadata"]["annotations"] == {
        "strimzi.io/kraft": "enabled",
        "strimzi.io/node-pools": "enabled",
    }
    assert "zookeeper" not in kafka["spec"]
    assert not {"replicas", "storage"} & set(kafka["spec"]["kafka"])
    assert "topicOperator" in kafka["spec"]["entityOperator"]


def test_the_node_pool_is_one_combined_controller_and_broker_with_2gi_and_a_1g_heap(
    resources: list[Resource],
) -> None:
    (pool,) = of_kind(resources, "KafkaNodePool")
    spec = pool["spec"]
    (volume,) = spec["storage"]["volumes"]

    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "todo-kafka"
    assert sorted(spec["roles"]) == ["broker", "controller"]
    assert spec["replicas"] == 1
    assert spec["storage"]["type"] == "jbod"
    assert (volume["type"], volume["size"], volume["kraftMetadata"]) == (
        "persistent-claim",
        "2Gi",
        "shared",
    )
    assert spec["jvmOptions"] == {"-Xms": "1g", "-Xmx": "1g"}


def test_every_topic_and_its_dead_letter_topic_has_three_partitions_on_the_cluster(
    resources: list[Resource],
) -> None:
    topics = {topic["metadata"]["name"]: topic for topic in of_kind(resources, "KafkaTopic")}
    (pool,) = of_kind(resources, "KafkaNodePool")
    config = named(resources, "Kafka", "todo-kafka")["spec"]["kafka"]["config"]

    assert set(topics) == {name for topic in TOPICS for name in (topic, f"{topic}-dlq")}
    for topic in topics.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "todo-kafka"
        assert topic["spec"]["partitions"] == 3
        assert topic["spec"]["replicas"] <= pool["spec"]["replicas"]
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"]
    for factor in ("default.replication.factor", "offsets.topic.replication.factor"):
        assert config[factor] <= pool["spec"]["replicas"]
    assert config["auto.create.topics.enable"] is False


# Prometheus


def prometheus_config(resources: list[Resource]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        config_map_data(resources, "prometheus-config")["prometheus.yml"]
    )
    return config


def test_prometheus_runs_the_pinned_image_with_24h_retention_and_bounded_memory(
    resources: list[Resource],
) -> None:
    deployment = named(resources, "Deployment", "prometheus")
    (container,) = containers(deployment)

    assert container["image"] == "prom/prometheus:v2.50.1"
    assert "--config.file=/etc/prometheus/prometheus.yml" in container["args"]
    assert "--storage.tsdb.retention.time=24h" in container["args"]
    assert container["resources"]["requests"]["memory"] == "256Mi"
    assert container["resources"]["limits"]["memory"] == "512Mi"


def test_prometheus_may_discover_pods_services_endpoints_and_nodes(
    resources: list[Resource],
) -> None:
    deployment = named(resources, "Deployment", "prometheus")
    account = pod_spec(deployment)["serviceAccountName"]
    binding = named(resources, "ClusterRoleBinding", "todostream-prometheus")
    role = named(resources, "ClusterRole", binding["roleRef"]["name"])
    (rule,) = role["rules"]

    named(resources, "ServiceAccount", account)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "todo-app"}
    ]
    assert rule["apiGroups"] == [""]
    assert sorted(rule["resources"]) == ["endpoints", "nodes", "pods", "services"]
    assert sorted(rule["verbs"]) == ["get", "list", "watch"]


def prometheus_files(resources: list[Resource]) -> dict[PurePosixPath, str]:
    """Every file the Prometheus container sees from its ConfigMaps, by absolute path."""
    deployment = named(resources, "Deployment", "prometheus")
    (container,) = containers(deployment)
    volumes = {volume["name"]: volume for volume in pod_spec(deployment)["volumes"]}
    files = {}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source is None:
            continue
        data = config_map_data(resources, source["name"].rpartition("-")[0])
        if "subPath" in mount:
            files[PurePosixPath(mount["mountPath"])] = data[mount["subPath"]]
        else:
            for name, text in data.items():
                files[PurePosixPath(mount["mountPath"]) / name] = text
    return files


def test_prometheus_finds_its_config_and_rule_files_where_they_are_mounted(
    resources: list[Resource],
) -> None:
    files = prometheus_files(resources)
    config_path = PurePosixPath("/etc/prometheus/prometheus.yml")
    config = yaml.safe_load(files[config_path])

    assert config == prometheus_config(resources)
    assert config["rule_files"], "no alert rules loaded"
    for rule_file in config["rule_files"]:
        resolved = config_path.parent / rule_file
        assert resolved in files, f"{rule_file} is not mounted"
        assert files[resolved] == (DEPLOY_DIR / "prometheus" / "rules.yml").read_text()


def lay_out_prometheus_files(resources: list[Resource], root: Path) -> Path:
    """The mounted files under `root`, as they sit under / in the container."""
    for path, text in prometheus_files(resources).items():
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root / "etc" / "prometheus" / "prometheus.yml"


def run_promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


KUBERNETES_SD_KEYS = frozenset(
    {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}
)


def promtool_reads_kubernetes_sd(root: Path) -> bool:
    """Debian builds Prometheus and promtool without Kubernetes service discovery."""
    probe = root / "probe.yml"
    probe.write_text(
        "scrape_configs:\n  - job_name: probe\n    kubernetes_sd_configs:\n      - role: pod\n"
    )
    checked = run_promtool("check", "config", str(probe))
    return "kubernetes_sd_configs not found" not in checked.stdout + checked.stderr


def without_kubernetes_sd(config_file: Path) -> None:
    """Put a file_sd block where each kubernetes_sd block was, keeping everything else
    (globals, rule files, relabelling) for promtool to check, after checking the Kubernetes
    blocks' own fields here."""
    config = yaml.safe_load(config_file.read_text())
    targets = config_file.parent / "targets.json"
    targets.write_text("[]")
    for job in config["scrape_configs"]:
        for discovery in job.pop("kubernetes_sd_configs", []):
            assert set(discovery) <= KUBERNETES_SD_KEYS, (job["job_name"], discovery)
            assert discovery["role"] in (
                "pod",
                "service",
                "endpoints",
                "endpointslice",
                "node",
                "ingress",
            )
            assert set(discovery.get("namespaces", {})) <= {"names", "own_namespace"}
            job.setdefault("file_sd_configs", []).append({"files": [str(targets)]})
    config_file.write_text(yaml.safe_dump(config))


def test_promtool_accepts_the_built_config_with_its_rules(
    resources: list[Resource], tmp_path: Path
) -> None:
    config_file = lay_out_prometheus_files(resources, tmp_path)
    if not promtool_reads_kubernetes_sd(tmp_path):
        without_kubernetes_sd(config_file)

    checked = run_promtool("check", "config", str(config_file))

    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "SUCCESS" in output
    assert str(config_file.parent / "rules" / "rules.yml") in output


def test_promtool_accepts_the_rule_files_the_config_loads(
    resources: list[Resource], tmp_path: Path
) -> None:
    config_file = lay_out_prometheus_files(resources, tmp_path)
    rule_files = [config_file.parent / name for name in prometheus_config(resources)["rule_files"]]

    checked = run_promtool("check", "rules", *map(str, rule_files))

    assert checked.returncode == 0, checked.stdout + checked.stderr


def running_pods(resources: list[Resource]) -> list[Pod]:
    """The pods the workloads would run, each with a distinct IP, with Dapr's sidecar added
    where the pod template asks for it."""
    pods = []
    for index, workload in enumerate(workloads(resources), start=1):
        replicas = workload["spec"].get("replicas", 1) if workload["kind"] != "Job" else 1
        for replica in range(replicas):
            pod = Pod(
                name=f"{workload['metadata']['name']}-{replica}",
                namespace=workload["metadata"]["namespace"],
                ip=f"10.244.{index}.{10 + replica}",
                labels=pod_labels(workload),
                annotations=pod_annotations(workload),
                containers=tuple(
                    Container(
                        name=container["name"],
                        image=container["image"],
                        ports=tuple(
                            (p.get("name", ""), p["containerPort"], p.get("protocol", "TCP"))
                            for p in container.get("ports", [])
                        ),
                    )
                    for container in containers(workload)
                ),
                controller=(workload["kind"], workload["metadata"]["name"]),
            )
            pods.append(with_dapr_sidecar(pod))
    return pods


def all_scrape_targets(resources: list[Resource]) -> list[Target]:
    pods = running_pods(resources)
    return [
        target
        for scrape_config in prometheus_config(resources)["scrape_configs"]
        for target in scrape_targets(scrape_config, pods)
    ]


def test_prometheus_scrapes_each_service_on_its_port_and_the_sidecars_on_9090_and_nothing_else(
    resources: list[Resource],
) -> None:
    pods = running_pods(resources)
    expected = set()
    for component, deployment in app_deployments(resources).items():
        for pod in pods:
            if pod.controller == ("Deployment", deployment["metadata"]["name"]):
                expected.add((f"todostream-{component}", f"{pod.ip}:{APP_PORTS[component]}"))
                expected.add(("dapr-sidecars", f"{pod.ip}:{DAPR_METRICS_PORT}"))

    targets = all_scrape_targets(resources)

    found = [(target.job, target.address) for target in targets]
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found)), "a pod is scraped twice by one job"
    assert {job for job, _ in found} == {
        "todostream-backend",
        "todostream-notification",
        "todostream-audit",
        "dapr-sidecars",
    }


def test_scrape_targets_are_labelled_with_namespace_pod_and_component(
    resources: list[Resource],
) -> None:
    for target in all_scrape_targets(resources):
        assert target.label("namespace") == "todo-app"
        assert target.label("pod")
        assert target.label("component") in APP_PORTS
        assert target.label("instance") == target.address
        if target.job.startswith("todostream-"):
            assert target.job == f"todostream-{target.label('component')}"


def test_the_alert_rules_watch_the_jobs_the_config_defines(resources: list[Resource]) -> None:
    rules = (DEPLOY_DIR / "prometheus" / "rules.yml").read_text()
    jobs = {job["job_name"] for job in prometheus_config(resources)["scrape_configs"]}

    assert 'job=~"todostream-.*"' in rules
    assert {f"todostream-{component}" for component in APP_PORTS} <= jobs


# The relabeling model itself


def test_the_relabel_model_anchors_regexes_like_prometheus() -> None:
    rule = RelabelRule.parse({"action": "keep", "source_labels": ["a"], "regex": "back"})

    assert relabel([rule], {"a": "back"}) == {"a": "back"}
    assert relabel([rule], {"a": "backend"}) is None
    assert relabel([rule], {"a": "feedback"}) is None


def test_the_relabel_model_joins_sources_and_expands_go_style_references() -> None:
    rule = RelabelRule.parse(
        {
            "source_labels": ["ip", "port", "missing"],
            "regex": "(.+);(\\d+);",
            "target_label": "__address__",
            "replacement": "$1:${2}$2x",
        }
    )

    relabelled = relabel([rule], {"ip": "10.0.0.1", "port": "80"})

    assert relabelled is not None
    assert relabelled["__address__"] == "10.0.0.1:80"


def test_the_relabel_model_maps_label_names_and_drops_matching_targets() -> None:
    rules = [
        RelabelRule.parse({"action": "labelmap", "regex": "__meta_(x|y)"}),
        RelabelRule.parse({"action": "drop", "source_labels": ["y"], "regex": "gone"}),
    ]

    assert relabel(rules, {"__meta_x": "1"}) == {"__meta_x": "1", "x": "1"}
    assert relabel(rules, {"__meta_y": "gone"}) is None


# Secrets and the local overlay


def test_the_base_ships_no_secrets(base: list[Resource]) -> None:
    assert of_kind(base, "Secret") == []
    for workload in workloads(base):
        for container in containers(workload):
            for variable in container.get("env", []):
                if "SECRET" in variable["name"] or "PASSWORD" in variable["name"]:
                    assert "value" not in variable, key(workload)


def test_the_local_overlay_ships_obviously_local_example_secrets(local: list[Resource]) -> None:
    secrets = {secret["metadata"]["name"]: secret for secret in of_kind(local, "Secret")}
    app = secrets["todostream-secrets"]["stringData"]

    assert set(app) == {"DATABASE_URL", "AUTH_JWT_SECRET"}
    assert len(app["AUTH_JWT_SECRET"].encode()) >= 32
    assert app["DATABASE_URL"].startswith("postgresql+asyncpg://")
    for secret in secrets.values():
        assert "data" not in secret
        for value in secret["stringData"].values():
            assert "local" in value, secret["metadata"]["name"]


def test_the_local_database_url_points_at_the_local_postgres(local: list[Resource]) -> None:
    url = urlsplit(named(local, "Secret", "todostream-secrets")["stringData"]["DATABASE_URL"])
    postgres = named(local, "StatefulSet", "postgres")
    service = named(local, "Service", postgres["spec"]["serviceName"])
    postgres_env = env_by_name(containers(postgres)[0])
    password = named(local, "Secret", "postgres-local")["stringData"]["password"]

    assert url.hostname == f"{service['metadata']['name']}.todo-app.svc.cluster.local"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.username == postgres_env["POSTGRES_USER"]["value"]
    assert url.password == password
    assert url.path.lstrip("/") == postgres_env["POSTGRES_DB"]["value"]


def test_the_local_redis_serves_the_host_the_redis_component_names(local: list[Resource]) -> None:
    host = component_metadata(named(local, "Component", "pubsub-redis"))["redisHost"]
    service = named(local, "Service", "redis")
    redis = named(local, "Deployment", "redis")

    assert host == f"redis.todo-app.svc.cluster.local:{service['spec']['ports'][0]['port']}"
    assert env_by_name(containers(redis)[0])["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "redis-auth",
        "key": "password",
    }


def test_the_local_overlay_runs_one_replica_of_each_service_from_the_dev_image(
    local: list[Resource],
) -> None:
    todostream = [
        w for w in workloads(local) if pod_labels(w)["app.kubernetes.io/name"] == "todostream"
    ]

    assert len(todostream) == len(APP_PORTS) + 1
    for workload in todostream:
        if workload["kind"] == "Deployment":
            assert workload["spec"]["replicas"] == 1
        for container in containers(workload):
            assert container["image"] == "todostream:dev"
            assert container["imagePullPolicy"] == "IfNotPresent"


def test_the_local_overlay_asks_for_less_than_the_base(
    base: list[Resource], local: list[Resource]
) -> None:
    for component in APP_PORTS:
        base_memory = app_container(app_deployments(base)[component])["resources"]
        local_memory = app_container(app_deployments(local)[component])["resources"]
        assert memory_mib(local_memory["requests"]["memory"]) < memory_mib(
            base_memory["requests"]["memory"]
        )
        assert memory_mib(local_memory["limits"]["memory"]) <= memory_mib(
            base_memory["limits"]["memory"]
        )


def memory_mib(quantity: str) -> float:
    units = {"Mi": 1.0, "Gi": 1024.0}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_the_local_overlay_provides_every_secret_and_config_map_its_pods_use(
    local: list[Resource],
) -> None:
    secrets = {s["metadata"]["name"]: s["stringData"] for s in of_kind(local, "Secret")}
    config_maps = {c["metadata"]["name"]: c["data"] for c in of_kind(local, "ConfigMap")}
    for workload in workloads(local):
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, key(workload)
        for container in containers(workload):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, key(workload)
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                if reference is not None:
                    assert reference["key"] in secrets[reference["name"]], key(workload)


# The Dockerfile


DOCKERFILE = REPO_ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def docker_stages() -> tuple[dict[str, str], list[dockerfile.Stage]]:
    return dockerfile.stages(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final_stage(docker_stages: tuple[dict[str, str], list[dockerfile.Stage]]) -> dockerfile.Stage:
    return docker_stages[1][-1]


def test_the_image_runs_as_a_numeric_non_root_user(final_stage: dockerfile.Stage) -> None:
    user = final_stage.all("USER")[-1].arguments
    uid, _, gid = user.partition(":")

    assert uid.isdigit(), user
    assert int(uid) != 0, user
    assert gid == "" or int(gid) != 0, user


def test_the_image_entrypoint_is_todostream(final_stage: dockerfile.Stage) -> None:
    (entrypoint,) = final_stage.all("ENTRYPOINT")
    (command,) = final_stage.all("CMD")

    assert entrypoint.exec_form() == ["todostream"]
    assert command.exec_form() == APP_COMMANDS["backend"][1:]


def test_the_image_installs_the_package_with_the_pinned_constraints_and_no_dev_extras(
    docker_stages: tuple[dict[str, str], list[dockerfile.Stage]],
) -> None:
    pip_runs = [
        run.arguments
        for stage in docker_stages[1]
        for run in stage.all("RUN")
        if "pip wheel" in run.arguments or "pip install" in run.arguments
    ]
    final_install = [
        run.arguments for run in docker_stages[1][-1].all("RUN") if "pip install" in run.arguments
    ]

    assert pip_runs
    for run in pip_runs:
        words = run.split()
        assert any(
            flag in ("--constraint", "-c") and path.endswith("constraints.txt")
            for flag, path in itertools.pairwise(words)
        ), run
        assert "[dev]" not in run, run
    assert final_install, "the final stage installs nothing"
    assert all("--no-index" in run for run in final_install)


def test_the_base_images_are_python_3_11_slim_with_pinned_tags(
    docker_stages: tuple[dict[str, str], list[dockerfile.Stage]],
) -> None:
    stages = docker_stages[1]
    stage_names = {stage.name for stage in stages if stage.name}

    for stage in stages:
        if stage.base in stage_names:
            continue
        tag = dockerfile.image_tag(stage.base)
        assert tag is not None, stage.base
        assert tag != "latest", stage.base
        assert stage.base.startswith("python:3.11-slim"), stage.base


def test_every_file_the_dockerfile_copies_exists_and_is_in_the_build_context(
    docker_stages: tuple[dict[str, str], list[dockerfile.Stage]],
) -> None:
    patterns = dockerfile.ignore_patterns((REPO_ROOT / ".dockerignore").read_text())
    stage_names = {stage.name for stage in docker_stages[1] if stage.name}
    copied = []
    for stage in docker_stages[1]:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, words = instruction.flags_and_words()
            if "from" in flags:
                assert flags["from"] in stage_names, instruction.arguments
                continue
            copied.extend(words[:-1])
        for run in stage.all("RUN"):
            for flag in run.flags_and_words()[0].get("mount", "").split(","):
                if flag.startswith("from="):
                    assert flag.removeprefix("from=") in stage_names, run.arguments

    assert copied
    for source in copied:
        assert (REPO_ROOT / source).exists(), source
        assert not dockerfile.is_ignored(source, patterns), f"{source} is in .dockerignore"


def test_the_build_context_holds_what_the_package_build_needs_and_no_local_state() -> None:
    patterns = dockerfile.ignore_patterns((REPO_ROOT / ".dockerignore").read_text())
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    kept = ["pyproject.toml", "constraints.txt", "src/todostream/cli/__init__.py"]
    kept += [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "src").rglob("*.yaml")]
    dropped = [".venv/bin/python", ".git/HEAD", "todostream.db", ".todostream/jwt-secret"]
    dropped += [
        "src/todostream.egg-info/PKG-INFO",
        "src/todostream/__pycache__/cli.cpython-311.pyc",
    ]
    dropped += ["tests/conftest.py", "deploy/k8s/base/kustomization.yaml"]

    assert 'readme = "README.md"' in pyproject
    kept.append("README.md")
    assert [path for path in kept if dockerfile.is_ignored(path, patterns)] == []
    assert [path for path in dropped if not dockerfile.is_ignored(path, patterns)] == []


def test_the_dockerignore_model_lets_the_last_matching_pattern_decide() -> None:
    patterns = dockerfile.ignore_patterns("*\n!src/\n**/__pycache__\n")

    assert dockerfile.is_ignored("notes.txt", patterns)
    assert not dockerfile.is_ignored("src/pkg/module.py", patterns)
    assert dockerfile.is_ignored("src/pkg/__pycache__/module.pyc", patterns)
