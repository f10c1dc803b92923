"""Kubernetes manifests: every overlay renders with kustomize, every object validates strictly
against the Kubernetes OpenAPI schemas and the Strimzi / Prometheus Operator / KEDA CRDs, and the
objects agree with each other and with workers/settings.py (partitions, scaling cap, probes,
security context). Tools come from scripts/install-deploy-tools.sh (see test_deploy.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy import REPO, gen_prometheusrule, require_tools, settings_from_env
from tests.unit.test_deploy import validate_deploy as vd

OVERLAYS = ("dev", "prod")
EXPECTED_PARTITIONS = {
    "articles.raw": 4, "articles.cleaned": 1, "articles.unique": 4,
    "articles.duplicates": 4, "articles.enriched": 4, "articles.deadletter": 4,
    "articles.tagged": 1, "articles.stories": 4,
}


@pytest.fixture(scope="module")
def tools() -> Any:
    return require_tools()


@pytest.fixture(scope="module")
def schemas(tools: Any) -> Any:
    return vd.KubernetesSchemas(tools.kubernetes_swagger, sorted(tools.crd_dir.glob("*.yaml")))


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tools: Any) -> tuple[str, list[dict[str, Any]]]:
    overlay = str(request.param)
    return overlay, vd.kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays" / overlay)


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def test_every_object_validates(rendered: tuple[str, list[dict[str, Any]]], schemas: Any) -> None:
    overlay, objects = rendered
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "ConfigMap", "StatefulSet", "Service", "PodMonitor", "PrometheusRule",
            "ScaledObject", "PodDisruptionBudget", "KafkaTopic"} <= kinds, overlay
    errors = [msg for obj in objects for msg in schemas.validate(obj)]
    assert errors == [], f"{overlay}:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        ("StatefulSet", ["spec", "replica"], 2, "'replica' was unexpected"),
        ("StatefulSet", ["spec", "template", "spec", "containers", 0, "ports", 0,
                         "containerPort"], "http", "not of type 'integer'"),
        ("KafkaTopic", ["spec", "partitions"], 0, "less than the minimum of 1"),
        ("ScaledObject", ["spec", "maxReplicas"], 4, "'maxReplicas' was unexpected"),
        ("PodMonitor", ["spec", "podMetricsEndpoints", 0, "paths"], "/m", "unexpected"),
        ("Service", ["metadata", "lables"], {}, "'lables' was unexpected"),
    ],
)
def test_validation_rejects_broken_objects(
    tools: Any, schemas: Any, kind: str, path: list[Any], value: Any, expected: str
) -> None:
    objects = vd.kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays" / "prod")
    obj = copy.deepcopy(next(o for o in objects if o["kind"] == kind))
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = schemas.validate(obj)
    assert any(expected in e for e in errors), errors


def test_unknown_api_version_is_an_error(schemas: Any) -> None:
    errors = schemas.validate({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                               "metadata": {"name": "x"}, "spec": {}})
    assert errors and "no schema" in errors[0]


def test_topics_match_the_settings(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    topics = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "KafkaTopic"}
    assert {name: spec["partitions"] for name, spec in topics.items()} == EXPECTED_PARTITIONS
    settings = settings_from_env(one(objects, "ConfigMap")["data"])
    assert settings.topic_partitions() == EXPECTED_PARTITIONS, overlay
    assert {spec["replicas"] for spec in topics.values()} == {settings.replication_factor}


def test_autoscaling_is_capped_at_the_partition_count(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, objects = rendered
    scaled = one(objects, "ScaledObject")["spec"]
    settings = settings_from_env(one(objects, "ConfigMap")["data"])
    assert scaled["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                        "name": one(objects, "StatefulSet")["metadata"]["name"]}
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= settings.partitions_raw
    for trigger in scaled["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == settings.app_id
        assert meta["allowIdleConsumers"] == "false"
        assert meta["bootstrapServers"] == settings.bootstrap_servers, overlay
        assert meta["topic"] in EXPECTED_PARTITIONS


def test_worker_pod_spec(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    sts = one(objects, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 6066, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), overlay
    sec = container["securityContext"]
    assert sec["readOnlyRootFilesystem"] is True and sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    settings = settings_from_env(one(objects, "ConfigMap")["data"])
    assert mounts[str(settings.data_dir)] in {t["metadata"]["name"]
                                              for t in sts["spec"]["volumeClaimTemplates"]}
    assert settings.store == "rocksdb://" and settings.web_host == "0.0.0.0"
    assert settings.web_port == 6066 and settings.log_format == "json"
    assert pod["terminationGracePeriodSeconds"] > settings.shutdown_timeout
    if settings.kafka_ssl_cafile is not None:
        ca_mount = str(settings.kafka_ssl_cafile.parent)
        assert ca_mount in mounts and "secret" in volumes[mounts[ca_mount]]


def test_services_monitoring_and_disruption_budget(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    sts = one(objects, "StatefulSet")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    services = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Service"}
    headless = services[sts["spec"]["serviceName"]]
    assert headless["clusterIP"] == "None"
    for spec in services.values():
        assert spec["selector"].items() <= pod_labels.items()
    monitor = one(objects, "PodMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= pod_labels.items()
    # The rules select job="newsflow": the PodMonitor must produce that job label.
    assert pod_labels[monitor["jobLabel"]] == "newsflow"
    assert monitor["podMetricsEndpoints"][0]["path"] == "/metrics"
    pdb = one(objects, "PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    rule = one(objects, "PrometheusRule")
    base = yaml.safe_load(gen_prometheusrule.OUTPUT.read_text(encoding="utf-8"))
    assert rule["spec"] == base["spec"]


def test_overlays_differ_where_they_should(tools: Any) -> None:
    dev, prod = (vd.kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays" / o)
                 for o in OVERLAYS)
    assert one(dev, "Namespace")["metadata"]["name"] != one(prod, "Namespace")["metadata"]["name"]
    prod_settings = settings_from_env(one(prod, "ConfigMap")["data"])
    assert prod_settings.kafka_security_protocol == "SASL_SSL"
    assert one(prod, "TriggerAuthentication")["spec"]["secretTargetRef"]
    assert all(t.get("authenticationRef") for t in one(prod, "ScaledObject")["spec"]["triggers"])


def test_base_has_a_kustomization_per_overlay() -> None:
    for overlay in OVERLAYS:
        doc = yaml.safe_load(
            (REPO / "deploy" / "k8s" / "overlays" / overlay / "kustomization.yaml").read_text())
        assert "../../base" in doc["resources"]
    assert Path(REPO / "deploy" / "k8s" / "base" / "kustomization.yaml").is_file()
