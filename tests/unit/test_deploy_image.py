"""The container image against the Kubernetes manifests and Compose: user and group IDs, port,
probe paths, environment names, read-only root filesystem and writable paths, entry point.

The image's side is read from deploy/Dockerfile here; scripts/test-image.sh runs the same
comparison (scripts/image_contract.py) on the config of the image it built. The Dockerfile's shape
(build argument for the base, the smoke check, no host specifics) is checked here too.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy import COMPOSE, DOCKERFILE, REPO, load_script, require_tools
from tests.unit.test_deploy import validate_deploy as vd
from workers.ops.health import LIVE_PATH, READY_PATH

image_contract = load_script("image_contract")
OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="module")
def image() -> Any:
    return image_contract.from_dockerfile(DOCKERFILE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    tools = require_tools()
    return vd.kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays" / str(request.param))


def test_dockerfile_config_is_read(image: Any) -> None:
    assert image.user == "10001:10001"
    assert image.exposed == {"6066/tcp"} and image.port == 6066
    assert image.volumes == {"/var/lib/newsflow"} and image.workdir == "/var/lib/newsflow"
    assert image.env["HOME"] == "/tmp" and image.env["NEWSFLOW_STORE"] == "rocksdb://"
    assert image.entrypoint == ("newsflow", "worker")
    assert LIVE_PATH in " ".join(image.healthcheck)
    assert image.writable == {"/var/lib/newsflow", "/tmp"}


def test_image_agrees_with_the_manifests_and_compose(
    image: Any, rendered: list[dict[str, Any]], compose: dict[str, Any]
) -> None:
    assert image_contract.disagreements(image, rendered, compose) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"user": "0:0"}, "non-root"),
        ({"user": "10002:10001"}, "runAsUser"),
        ({"user": "newsflow"}, "numeric"),
        ({"exposed": frozenset({"8080/tcp"})}, "EXPOSE"),
        ({"volumes": frozenset({"/data"})}, "writable mounts"),
        ({"workdir": "/app"}, "WORKDIR"),
        ({"healthcheck": ("python", "-c", "get('http://127.0.0.1:6066/health/ready')")},
         "HEALTHCHECK calls"),
        ({"entrypoint": ("newsflow", "serve")}, "compose worker entrypoint"),
    ],
)
def test_a_disagreement_is_reported(
    image: Any, rendered: list[dict[str, Any]], compose: dict[str, Any],
    change: dict[str, Any], expected: str,
) -> None:
    errors = image_contract.disagreements(image.with_(**change), rendered, compose)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("NEWSFLOW_WEB_PORT", "7000", "EXPOSE"),
        ("NEWSFLOW_DATA_DIR", "/srv/newsflow", "NEWSFLOW_DATA_DIR"),
        ("NEWSFLOW_STORE_URL", "rocksdb://", "not settings"),
        ("HOME", "/home/newsflow", "writable mounts"),
    ],
)
def test_an_environment_disagreement_is_reported(
    image: Any, rendered: list[dict[str, Any]], name: str, value: str, expected: str
) -> None:
    errors = image_contract.disagreements(image.with_(env={**image.env, name: value}), rendered)
    assert any(expected in e for e in errors), errors


def test_manifest_changes_are_reported(image: Any, rendered: list[dict[str, Any]]) -> None:
    import copy

    objects = copy.deepcopy(rendered)
    container = image_contract.worker_container(objects)
    container["readinessProbe"]["httpGet"]["path"] = "/ready"
    container["securityContext"]["readOnlyRootFilesystem"] = False
    container["volumeMounts"].append({"name": "cache", "mountPath": "/home/newsflow"})
    errors = image_contract.disagreements(image, objects)
    assert any("readinessProbe path /ready" in e for e in errors), errors
    assert any("readOnlyRootFilesystem" in e for e in errors), errors
    assert any("/home/newsflow" in e for e in errors), errors
    assert READY_PATH in str(errors)


def test_inspect_output_is_read() -> None:
    doc = {
        "Config": {
            "User": "10001:10001",
            "Env": ["PATH=/opt/venv/bin:/usr/bin", "HOME=/tmp", "NEWSFLOW_WEB_PORT=6066"],
            "ExposedPorts": {"6066/tcp": {}},
            "Volumes": {"/var/lib/newsflow": {}},
            "WorkingDir": "/var/lib/newsflow",
            "Entrypoint": ["newsflow", "worker"],
        },
        "Healthcheck": {"Test": ["CMD", "python", "-c", "x('/health/live')"]},
    }
    image = image_contract.from_inspect(doc)
    assert image.uid_gid == (10001, 10001) and image.port == 6066
    assert image.env["PATH"] == "/opt/venv/bin:/usr/bin"
    assert image.healthcheck == ("python", "-c", "x('/health/live')")
    assert image.writable == {"/var/lib/newsflow", "/tmp"}


# --- the Dockerfile's shape ------------------------------------------------------------------


def test_dockerfile_base_is_a_build_argument() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default), default
    assert text.index("ARG BASE_IMAGE=") < text.index("\nFROM ")
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, flags=re.M)
    assert stages == [("${BASE_IMAGE}", "build"), ("${BASE_IMAGE}", "runtime")]
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2


def test_dockerfile_has_no_host_specifics() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    for host_specific in ("PIP_CERT", "ca-certificates.crt", "localhost/", "newsflow-base",
                          "--network", "PIP_INDEX_URL", "PIP_FIND_LINKS", "proxy"):
        assert host_specific not in text, host_specific


def test_dockerfile_build_stage_cannot_reuse_a_stale_build() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    build = text[:text.index(" AS runtime")]
    assert "touch workers/__init__.py" not in build, "no stub package in the dependency layer"
    assert "pip wheel --no-deps" in build and "rm -rf build dist" in build
    assert "scripts/check_install.py" in build
    final = text[text.rindex("\nFROM "):]
    assert "apt-get" not in final and "pip install" not in final
    assert "COPY --from=build /opt/venv /opt/venv" in final


def test_dockerfile_smoke_check_runs_the_entry_point_as_the_final_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    final = text[text.rindex("\nFROM "):]
    entry = re.search(r'^ENTRYPOINT (\[.*\])$', final, flags=re.M)
    assert entry is not None
    command = " ".join(yaml.safe_load(entry[1]))
    checks = [m.start() for m in re.finditer(re.escape(f"{command} --check"), final)]
    assert len(checks) == 2, "the default model and en_core_web_sm"
    assert "NEWSFLOW_SPACY_MODEL=en_core_web_sm" in final
    assert final.index("\nUSER ") < checks[0], "after USER: as the user that runs the worker"
    assert re.search(r'\["newsflow", "worker"\]', final)


def test_test_image_script_builds_with_only_the_base_changed() -> None:
    script = (REPO / "scripts" / "test-image.sh").read_text(encoding="utf-8")
    builds = re.findall(r"podman[^\n]* build .*", script)
    assert builds, "the script builds the image"
    assert "--build-arg BASE_IMAGE=" in script
    assert "--build-arg" not in script.replace("--build-arg BASE_IMAGE=", "")
    assert "-f deploy/Dockerfile" in script


def test_check_install_notices_the_stale_stub(tmp_path: Path) -> None:
    check_install = load_script("check_install")
    source, site = tmp_path / "src", tmp_path / "site"
    for root in (source, site):
        (root / "workers" / "ops").mkdir(parents=True)
        (root / "workers" / "ops" / "health.py").write_text("LIVE_PATH = '/health/live'\n")
    (source / "workers" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (site / "workers" / "__init__.py").write_text("")  # the stub the old dependency layer made
    files = [PurePath("workers/__init__.py"), PurePath("workers/ops/health.py"),
             PurePath("workers/__pycache__/__init__.cpython-311.pyc"),
             PurePath("newsflow-0.1.0.dist-info/RECORD")]
    assert check_install.compare(site, files, source) == ["workers/__init__.py: differs from the "
                                                          "source"]
    (site / "workers" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    assert check_install.compare(site, files, source) == []
    (source / "workers" / "new.py").write_text("")
    assert check_install.compare(site, files, source) == ["workers/new.py: in the source but not "
                                                          "installed"]


def test_check_install_refuses_the_source_tree() -> None:
    check_install = load_script("check_install")
    # In the development virtualenv `import workers` finds this source tree: that is reported,
    # never taken for a match.
    problems = check_install.differences(REPO)
    assert problems and "source tree" in problems[0]
