from pathlib import Path
from typing import Any

import pytest

from todostream.config import DEFAULTS_DIR
from todostream.pubsub.component import (
    Component,
    ComponentError,
    load_component,
    parse_component,
    parse_duration_ms,
)
from todostream.pubsub.factory import consumer_group

SUPPORTED = "pubsub.in-memory, pubsub.kafka, pubsub.redis"
KAFKA_YAML = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: pubsub.kafka
  version: v1
  metadata:
    - name: brokers
      value: localhost:9092
    - name: saslPassword
      secretKeyRef:
        name: kafka-auth
        key: password
"""


def document(type_: str = "pubsub.kafka", items: Any = None, **top: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "version": "v1"}
    if items is not None:
        spec["metadata"] = items
    base = {
        "apiVersion": "dapr.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": "pubsub"},
        "spec": spec,
    }
    return base | top


def parse(doc: Any, environ: dict[str, str] | None = None) -> Component:
    return parse_component(doc, "pubsub.yaml", environ or {})


def with_metadata(**values: str) -> Component:
    return Component(name="pubsub", type="pubsub.kafka", metadata=values, source="pubsub.yaml")


def password_entry(ref: Any) -> list[dict[str, Any]]:
    return [{"name": "saslPassword", "secretKeyRef": ref}]


# Parsing a component


@pytest.mark.parametrize("type_", ["pubsub.in-memory", "pubsub.kafka", "pubsub.redis"])
def test_each_supported_broker_type_is_parsed(type_: str) -> None:
    component = parse(document(type_))

    assert component.name == "pubsub"
    assert component.type == type_
    assert component.version == "v1"
    assert component.source == "pubsub.yaml"


def test_the_metadata_list_becomes_a_mapping_by_name() -> None:
    metadata = [
        {"name": "brokers", "value": "localhost:9092"},
        {"name": "consumerGroup", "value": "todostream"},
    ]

    component = parse(document(items=metadata))

    assert dict(component.metadata) == {"brokers": "localhost:9092", "consumerGroup": "todostream"}
    assert component.get("brokers") == "localhost:9092"
    assert component.get("clientID", "fallback") == "fallback"


def test_metadata_values_that_yaml_read_as_numbers_or_nothing_become_strings() -> None:
    metadata = [
        {"name": "maxRetries", "value": 5},
        {"name": "enableTLS", "value": False},
        {"name": "clientID", "value": None},
        {"name": "authType"},
    ]

    component = parse(document(items=metadata))

    assert dict(component.metadata) == {
        "maxRetries": "5",
        "enableTLS": "False",
        "clientID": "",
        "authType": "",
    }


def test_a_component_without_metadata_or_version_has_none_and_is_version_one() -> None:
    doc = document("pubsub.in-memory")
    del doc["spec"]["version"]

    component = parse(doc)

    assert component.metadata == {}
    assert component.version == "v1"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (document(kind="Configuration"), "expected kind: Component"),
        (None, "expected kind: Component"),
        ([], "expected kind: Component"),
        (document(apiVersion="v1"), "expected apiVersion dapr.io/v1alpha1"),
        (document(metadata={}), "metadata.name is required"),
        (document(metadata={"name": ""}), "metadata.name is required"),
        (
            document("pubsub.rabbitmq"),
            f"spec.type 'pubsub.rabbitmq' is not one of {SUPPORTED}",
        ),
        (document("state.redis"), f"spec.type 'state.redis' is not one of {SUPPORTED}"),
        (document(spec={}), f"spec.type None is not one of {SUPPORTED}"),
        (document(items={"a": "b"}), "spec.metadata must be a list of name/value pairs"),
        (document(items=[{"value": "orphan"}]), "every spec.metadata entry needs a name"),
        (document(items=["brokers"]), "every spec.metadata entry needs a name"),
    ],
)
def test_a_document_that_is_not_a_supported_component_is_refused(doc: Any, message: str) -> None:
    with pytest.raises(ComponentError) as caught:
        parse(doc)

    assert str(caught.value) == f"pubsub.yaml: {message}"


@pytest.mark.parametrize(
    "doc",
    [
        document() | {"metadata": "pubsub"},
        document() | {"spec": "pubsub.kafka"},
    ],
    ids=["metadata-is-a-string", "spec-is-a-string"],
)
def test_a_section_written_as_a_string_is_refused_as_a_component_error(doc: Any) -> None:
    with pytest.raises(ComponentError, match=r"^pubsub\.yaml: "):
        parse(doc)


# Typed metadata


def test_an_integer_setting_is_read_and_an_absent_one_takes_the_default() -> None:
    component = with_metadata(maxRetries="10", blank="")

    assert component.get_int("maxRetries", 3) == 10
    assert component.get_int("blank", 3) == 3
    assert component.get_int("absent", 3) == 3


def test_an_integer_setting_that_is_not_a_number_is_refused_naming_it() -> None:
    component = with_metadata(maxRetries="ten")

    with pytest.raises(ComponentError) as caught:
        component.get_int("maxRetries", 3)

    assert str(caught.value) == "pubsub.yaml: metadata maxRetries must be an integer, got 'ten'"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
    ],
)
def test_a_boolean_setting_accepts_the_usual_spellings(text: str, value: bool) -> None:
    component = with_metadata(enableTLS=text)

    assert component.get_bool("enableTLS", not value) is value


def test_an_absent_boolean_setting_takes_the_default() -> None:
    assert with_metadata().get_bool("enableTLS", True) is True
    assert with_metadata(enableTLS="").get_bool("enableTLS", False) is False


def test_a_boolean_setting_that_is_not_true_or_false_is_refused_naming_it() -> None:
    component = with_metadata(enableTLS="on")

    with pytest.raises(ComponentError) as caught:
        component.get_bool("enableTLS", False)

    assert str(caught.value) == "pubsub.yaml: metadata enableTLS must be true or false, got 'on'"


@pytest.mark.parametrize(
    ("text", "milliseconds"),
    [
        ("10s", 10_000),
        ("500ms", 500),
        ("1m30s", 90_000),
        ("250", 250),
        ("1h", 3_600_000),
        ("1.5s", 1_500),
        ("2h30m", 9_000_000),
        (" 10s ", 10_000),
        ("0", 0),
    ],
)
def test_a_duration_is_read_in_milliseconds(text: str, milliseconds: int) -> None:
    assert with_metadata(timeout=text).get_duration_ms("timeout", 1) == milliseconds


def test_an_absent_duration_takes_the_default() -> None:
    assert with_metadata().get_duration_ms("timeout", 1_234) == 1_234
    assert with_metadata(timeout="").get_duration_ms("timeout", 1_234) == 1_234


@pytest.mark.parametrize("text", ["10 seconds", "-5s", "1d", "ms", "1m 30s", "10S", "1.5", "s10"])
def test_a_duration_that_is_not_go_style_is_refused_naming_the_setting(text: str) -> None:
    component = with_metadata(timeout=text)

    with pytest.raises(ComponentError) as caught:
        component.get_duration_ms("timeout", 1)

    assert str(caught.value) == (
        f"pubsub.yaml: metadata timeout must be a duration like 10s or 500ms, got {text!r}"
    )


def test_a_duration_of_superscript_digits_is_refused_naming_the_setting() -> None:
    # "²".isdigit() is true, but int() cannot read it.
    with pytest.raises(ComponentError, match="metadata timeout must be a duration"):
        with_metadata(timeout="²").get_duration_ms("timeout", 1)


def test_parse_duration_ms_names_the_place_it_was_given() -> None:
    with pytest.raises(ComponentError, match=r"^env RELAY_TIMEOUT must be a duration"):
        parse_duration_ms("soon", "env RELAY_TIMEOUT")


# Secrets


def test_a_secret_reference_is_read_from_the_environment_mapping_given() -> None:
    doc = document(items=password_entry({"name": "kafka-auth", "key": "password"}))

    component = parse(doc, {"KAFKA_AUTH_PASSWORD": "s3cret"})

    assert component.get("saslPassword") == "s3cret"


def test_a_secret_name_with_dots_and_dashes_becomes_an_upper_case_variable() -> None:
    doc = document(items=password_entry({"name": "redis.auth", "key": "pass-word"}))

    assert parse(doc, {"REDIS_AUTH_PASS_WORD": "pw"}).get("saslPassword") == "pw"


def test_a_missing_secret_is_refused_naming_the_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The process environment is not consulted when a mapping is passed in.
    monkeypatch.setenv("KAFKA_AUTH_PASSWORD", "from-the-process")
    doc = document(items=password_entry({"name": "kafka-auth", "key": "password"}))

    with pytest.raises(ComponentError) as caught:
        parse(doc, {})

    assert str(caught.value) == (
        "pubsub.yaml: metadata saslPassword refers to secret kafka-auth/password;"
        " set KAFKA_AUTH_PASSWORD in the environment"
    )


def test_a_secret_reference_written_as_a_string_is_refused_as_a_component_error() -> None:
    with pytest.raises(ComponentError, match="saslPassword"):
        parse(document(items=password_entry("kafka-auth")))


def test_an_empty_secret_reference_is_refused_instead_of_reading_a_stray_variable() -> None:
    # Shells export "_" (the last command run), so an empty reference must not resolve to it.
    with pytest.raises(ComponentError, match="saslPassword"):
        parse(document(items=password_entry({})), {"_": "/usr/bin/env"})


# Files


def test_a_component_file_is_loaded_with_its_secrets_from_the_mapping_given(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kafka.yaml"
    path.write_text(KAFKA_YAML, encoding="utf-8")

    component = load_component(path, {"KAFKA_AUTH_PASSWORD": "s3cret"})

    assert component.name == "orders"
    assert component.type == "pubsub.kafka"
    assert dict(component.metadata) == {"brokers": "localhost:9092", "saslPassword": "s3cret"}
    assert component.source == str(path)


def test_a_component_file_reads_secrets_from_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kafka.yaml"
    path.write_text(KAFKA_YAML, encoding="utf-8")
    monkeypatch.setenv("KAFKA_AUTH_PASSWORD", "from-the-process")

    assert load_component(path).get("saslPassword") == "from-the-process"


def test_errors_in_a_component_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kafka.yaml"
    path.write_text(KAFKA_YAML, encoding="utf-8")

    with pytest.raises(ComponentError) as caught:
        load_component(path, {})

    assert str(caught.value).startswith(f"{path}: metadata saslPassword refers to secret")


def test_a_component_file_that_is_not_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("kind: Component\nspec: [unclosed\n", encoding="utf-8")

    with pytest.raises(ComponentError) as caught:
        load_component(path, {})

    assert str(caught.value).startswith(f"cannot read component {path}:")


def test_a_missing_component_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ComponentError) as caught:
        load_component(path, {})

    assert str(caught.value).startswith(f"cannot read component {path}:")


def test_the_default_component_is_the_in_memory_broker() -> None:
    component = load_component(DEFAULTS_DIR / "pubsub-in-memory.yaml", {})

    assert component.type == "pubsub.in-memory"
    assert component.name == "pubsub"
    assert component.metadata == {}


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("todo-app", "todo-app-audit"),
        ("{appID}", "todostream-audit"),
        ("{namespace}-todo", "todo-app-todo-audit"),
    ],
)
def test_each_consumer_service_gets_a_group_of_its_own(group: str, expected: str) -> None:
    component = Component(name="pubsub", type="pubsub.kafka", metadata={"consumerGroup": group})

    assert consumer_group(component, "audit", {"NAMESPACE": "todo-app"}) == expected
