"""Deployment files, validated offline: docker-compose.yml, deploy/Dockerfile, the generated
PrometheusRule and the sample corpus.

The validators and schemas come from ``scripts/install-deploy-tools.sh`` (package registries, cached
under ~/.cache/newsflow/tools). Without them these tests fail when CI=true and skip otherwise.
Kubernetes overlays are in test_deploy_k8s.py.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import unavailable
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (scripts/ is not a package)."""
    path = REPO / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"newsflow_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


validate_deploy = load_script("validate_deploy")
gen_prometheusrule = load_script("gen_prometheusrule")


def require_tools() -> Any:
    """The installed tools, or fail (CI=true) / skip with how to install them."""
    tools = validate_deploy.Tools.default()
    missing = tools.missing()
    if missing:
        message = (f"deploy tools missing ({', '.join(missing)}); "
                   "run scripts/install-deploy-tools.sh")
        unavailable(message)
    return tools


@pytest.fixture(scope="module")
def tools() -> Any:
    return require_tools()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_validates_and_every_mounted_file_exists(tools: Any) -> None:
    assert validate_deploy.validate_compose(COMPOSE, tools.compose_schema, env={}) == []


def test_compose_validation_catches_unknown_keys_and_missing_mounts(
    tools: Any, tmp_path: Path
) -> None:
    broken = {
        "services": {
            "worker": {"image": "x:1", "restart_policy": "always",
                       "volumes": ["./nowhere/prometheus.yml:/etc/p.yml:ro"]},
        }
    }
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    errors = validate_deploy.validate_compose(path, tools.compose_schema, env={})
    assert any("restart_policy" in e for e in errors), errors
    assert any("nowhere/prometheus.yml" in e and "missing" in e for e in errors), errors


def test_compose_corpus_folder_follows_its_variable(tools: Any) -> None:
    errors = validate_deploy.validate_compose(
        COMPOSE, tools.compose_schema, env={"NEWSFLOW_CORPUS_DIR": "./no-such-corpus"})
    assert [e for e in errors if "no-such-corpus" in e], errors


def test_compose_go_loads_the_stack_with_every_profile(tools: Any) -> None:
    proc = validate_deploy.compose_config(tools, COMPOSE, ["replay"])
    assert proc.returncode == 0, proc.stderr
    project = yaml.safe_load(proc.stdout)
    assert set(project["services"]) == {"kafka", "topics", "worker", "prometheus", "grafana",
                                        "replay"}
    worker = project["services"]["worker"]
    assert worker["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:29092"
    assert worker["environment"]["NEWSFLOW_TAG_WORKERS"] == "1"
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    replay = project["services"]["replay"]
    (corpus,) = [v for v in replay["volumes"] if v["target"] == "/data"]
    assert Path(corpus["source"]) == REPO / "samples"


def test_compose_go_rejects_an_inconsistent_project(tools: Any, tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text("services:\n  a:\n    image: x:1\n    depends_on: [b]\n", encoding="utf-8")
    proc = validate_deploy.compose_config(tools, path)
    assert proc.returncode != 0
    assert "undefined service" in proc.stderr


def test_worker_service_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "fixed host ports clash with --scale worker=N"
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["NEWSFLOW_STORE"] == "rocksdb://"
    assert any(str(v).startswith("worker-state:") for v in worker["volumes"])


def test_compose_services_and_pinned_images(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"kafka", "topics", "worker", "prometheus", "grafana", "replay"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert "healthcheck" in services["kafka"]
    for name in ("prometheus", "grafana"):
        image = services[name]["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), f"{name}: exact tag, got {image}"
    assert services["replay"]["profiles"] == ["replay"]
    assert services["replay"]["entrypoint"] == ["newsflow", "produce", "/data/corpus.jsonl"]
    assert services["topics"]["entrypoint"] == ["newsflow", "topics", "create"]
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana_env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = grafana_env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "deploy" / "grafana" / "dashboards" / Path(home).name).is_file()
    assert {"kafka-data", "worker-state"} <= set(compose["volumes"])


def test_compose_environment_is_valid_settings(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name in ("topics", "worker", "replay"):
        env = {k: str(validate_deploy.interpolate(str(v), {}))
               for k, v in compose["services"][name]["environment"].items()}
        unknown = [k for k in env if k.startswith("NEWSFLOW_")
                   and k.removeprefix("NEWSFLOW_").lower() not in fields]
        assert unknown == [], f"{name}: not settings fields: {unknown}"
        settings = settings_from_env(env)
        assert settings.bootstrap_servers == "kafka:29092"


def settings_from_env(env: dict[str, str]) -> Settings:
    """Settings as the container would build them from ``env`` (pydantic checks each value)."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("NEWSFLOW_") or k.startswith("KAFKA_")]:
            del os.environ[key]
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(tools: Any) -> None:
    proc = validate_deploy.hadolint(tools, DOCKERFILE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_reports_a_bad_dockerfile(tools: Any, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD python app.py\n")
    proc = validate_deploy.hadolint(tools, bad)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout  # latest tag


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    # Both stages on the BASE_IMAGE build argument, whose default is the pinned official image
    # (test_deploy_image.py checks the argument form and the smoke check in detail).
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default), default
    stages = re.findall(r"^FROM (\S+)", text, flags=re.M)
    assert stages == ["${BASE_IMAGE}", "${BASE_IMAGE}"], "multi-stage, one base"
    final = text[text.rindex("\nFROM "):]
    assert "build-essential" not in final and "apt-get install" not in final
    assert "COPY --from=build /opt/venv" in final
    user = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert user and not user[-1].startswith(("root", "0")), user
    assert "HEALTHCHECK" in final and "/health/live" in final and "6066" in final
    assert re.search(r'^ENTRYPOINT \["newsflow", "worker"\]$', final, flags=re.M)
    # The rocksdb extra is installed; the selectable en_core_web_sm ships (a dependency in
    # pyproject.toml) and the build's smoke check loads it besides the default ner-news.
    assert "['optional-dependencies']['rocksdb']" in text
    assert "NEWSFLOW_SPACY_MODEL=en_core_web_sm newsflow worker --check" in final


def test_dockerignore_keeps_the_context_small() -> None:
    rules = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert rules[rules.index("*")] == "*"
    for needed in ("!pyproject.toml", "!constraints.txt", "!README.md", "!workers/",
                   "!schemas/", "!scripts/check_install.py"):
        assert needed in rules


# --- the lock (constraints.txt) --------------------------------------------------------------


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_dependency_is_pinned_within_its_bounds() -> None:
    """A dependency added to pyproject.toml without re-running scripts/lock.sh fails here, as
    does a lock that breaks a bound of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    pins = _pins()
    for spec in (*project["dependencies"], *extras["dev"], *extras["rocksdb"]):
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name} {pins[name]}, outside {requirement.specifier}")


def test_setup_and_image_install_the_locked_versions() -> None:
    assert "-c constraints.txt -e '.[dev]'" in (REPO / "scripts" / "setup.sh").read_text(
        encoding="utf-8")
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert "COPY pyproject.toml constraints.txt ./" in dockerfile
    assert "pip install -r /tmp/requirements.txt -c constraints.txt" in dockerfile


def test_this_environment_has_the_locked_versions() -> None:
    """The virtualenv scripts/setup.sh made holds the pinned versions (those installed)."""
    pins = _pins()
    wrong = {}
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in pins and Version(dist.version) != pins[name]:
            wrong[name] = f"{dist.version} installed, {pins[name]} pinned"
    assert not wrong, f"{wrong}: run scripts/setup.sh"


# --- PrometheusRule and samples --------------------------------------------------------------


def test_prometheusrule_is_generated_from_the_rule_files() -> None:
    committed = gen_prometheusrule.OUTPUT.read_text(encoding="utf-8")
    assert committed == gen_prometheusrule.render()
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_prometheusrule.py"),
                           "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_prometheusrule_check_notices_a_changed_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in sorted(gen_prometheusrule.RULES_DIR.glob("*.yml")):
        (rules / path.name).write_text(path.read_text(encoding="utf-8").replace(
            "for: 2m", "for: 3m", 1), encoding="utf-8")
    assert gen_prometheusrule.render(rules) != gen_prometheusrule.OUTPUT.read_text("utf-8")
    rendered = yaml.safe_load(gen_prometheusrule.render())
    sources = [g for p in sorted(gen_prometheusrule.RULES_DIR.glob("*.yml"))
               for g in yaml.safe_load(p.read_text("utf-8"))["groups"]]
    assert rendered["spec"]["groups"] == sources


def test_sample_corpus_is_valid_raw_articles() -> None:
    schema = json.loads((REPO / "schemas" / "raw.json").read_text(encoding="utf-8"))
    lines = (REPO / "samples" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    assert len(docs) >= 6
    for doc in docs:
        jsonschema.validate(doc, schema)
    ids = [d["id"] for d in docs if "id" in d]
    assert len(ids) == len(set(ids))
    assert any("id" not in d for d in docs), "one record relies on the url-derived id"
