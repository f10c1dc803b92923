"""What the container image promises, and whether the Kubernetes manifests and Compose agree.

An image's runtime contract is read from one of two places:

* :func:`from_dockerfile`: the final stage of ``deploy/Dockerfile`` (offline, always available);
* :func:`from_inspect`: ``podman image inspect`` of a built image (scripts/test-image.sh).

:func:`disagreements` compares it with one rendered Kubernetes overlay (``kustomize build``) and
with ``docker-compose.yml``: user and group IDs, the HTTP port, probe paths, environment variable
names and values, the read-only root filesystem and the paths that must stay writable, and the
entry point. tests/unit/test_deploy_image.py runs it on the Dockerfile; scripts/test-image.sh on
the image it built.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workers.ops.health import LIVE_PATH, METRICS_PATH, READY_PATH
from workers.settings import Settings

# Environment variables an image or a manifest may set besides the settings' own.
NON_SETTINGS_ENV = {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                    "KAFKA_BOOTSTRAP_SERVERS", "GPG_KEY", "PYTHON_VERSION", "PYTHON_SHA256"}
_PATH_IN_CMD = re.compile(r"/health/\w+|/metrics")


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that a runtime relies on."""

    user: str
    env: dict[str, str] = field(default_factory=dict)
    exposed: frozenset[str] = frozenset()  # "6066/tcp"
    volumes: frozenset[str] = frozenset()
    workdir: str = "/"
    entrypoint: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()  # the CMD, without the "CMD" marker

    def with_(self, **changes: Any) -> ImageConfig:
        return replace(self, **changes)

    @property
    def port(self) -> int:
        return int(self.env.get("NEWSFLOW_WEB_PORT", Settings.model_fields["web_port"].default))

    @property
    def uid_gid(self) -> tuple[int, int] | None:
        match = re.fullmatch(r"(\d+):(\d+)", self.user)
        return (int(match[1]), int(match[2])) if match else None

    @property
    def writable(self) -> frozenset[str]:
        """Paths the image expects to write with a read-only root: its volumes and its HOME."""
        return self.volumes | ({self.env["HOME"]} if "HOME" in self.env else set())


# --- reading ---------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    out = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: args.get(m[1] or m[2], m[0]), value)


def from_dockerfile(path: Path) -> ImageConfig:
    """The final stage's config (build arguments at their defaults)."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((keyword, rest))
    if not stages:
        raise ValueError(f"{path}: no FROM")
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    user, workdir = "0", "/"
    exposed: set[str] = set()
    volumes: set[str] = set()
    entrypoint: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    for keyword, rest in stages[-1]:
        rest = _substitute(rest, args)
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
        elif keyword == "USER":
            user = rest
        elif keyword == "WORKDIR":
            workdir = rest
        elif keyword == "EXPOSE":
            exposed |= {p if "/" in p else f"{p}/tcp" for p in rest.split()}
        elif keyword == "VOLUME":
            volumes |= set(json.loads(rest) if rest.startswith("[") else rest.split())
        elif keyword == "ENTRYPOINT":
            entrypoint = tuple(json.loads(rest))
        elif keyword == "HEALTHCHECK":
            _, _, cmd = rest.partition("CMD ")
            healthcheck = tuple(json.loads(cmd)) if cmd.startswith("[") else ("sh", "-c", cmd)
    return ImageConfig(user=user, env=env, exposed=frozenset(exposed), volumes=frozenset(volumes),
                       workdir=workdir, entrypoint=entrypoint, healthcheck=healthcheck)


def from_inspect(doc: dict[str, Any]) -> ImageConfig:
    """The config of a built image, from one element of ``podman image inspect``'s list."""
    config = doc.get("Config") or {}
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    # podman: a top-level "Healthcheck"; docker: Config.Healthcheck
    health = doc.get("Healthcheck") or config.get("Healthcheck") or {}
    test = list(health.get("Test") or [])
    if test[:1] == ["CMD"]:
        test = test[1:]
    elif test[:1] == ["CMD-SHELL"]:
        test = ["sh", "-c", *test[1:]]
    return ImageConfig(
        user=config.get("User") or "0",
        env=env,
        exposed=frozenset(config.get("ExposedPorts") or {}),
        volumes=frozenset(config.get("Volumes") or {}),
        workdir=config.get("WorkingDir") or "/",
        entrypoint=tuple(config.get("Entrypoint") or ()),
        healthcheck=tuple(test),
    )


# --- comparing -------------------------------------------------------------------------------


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == kind]
    if len(found) != 1:
        raise ValueError(f"expected one {kind} in the rendered manifests, got {len(found)}")
    return found[0]


def _settings_name(name: str) -> bool:
    fields = Settings.model_fields
    return name.startswith("NEWSFLOW_") and name.removeprefix("NEWSFLOW_").lower() in fields


def worker_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = _one(objects, "StatefulSet")["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "worker"]
    return container


def disagreements(image: ImageConfig, objects: list[dict[str, Any]],
                  compose: dict[str, Any] | None = None) -> list[str]:
    """Where ``image`` and the rendered manifests (and the Compose worker) disagree."""
    errors: list[str] = []
    sts = _one(objects, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    container = worker_container(objects)
    config = _one(objects, "ConfigMap")["data"]
    k8s_env = {**{k: str(v) for k, v in config.items()},
               **{e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}}
    env_names = set(config) | {e["name"] for e in container.get("env", [])}

    # User and group IDs: numeric in the image (runAsNonRoot can only check a number), the same
    # in the pod's securityContext.
    ids = image.uid_gid
    pod_sec = pod.get("securityContext", {})
    if ids is None or ids[0] == 0:
        errors.append(f"image USER {image.user!r}: want numeric non-root uid:gid")
    else:
        uid, gid = ids
        for key, want in (("runAsUser", uid), ("runAsGroup", gid), ("fsGroup", gid)):
            if pod_sec.get(key) != want:
                errors.append(f"pod securityContext.{key} {pod_sec.get(key)} != image {want}")
    if not pod_sec.get("runAsNonRoot"):
        errors.append("pod securityContext.runAsNonRoot is not true")

    # The HTTP port.
    port = image.port
    if image.exposed != {f"{port}/tcp"}:
        errors.append(f"image EXPOSE {sorted(image.exposed)} != NEWSFLOW_WEB_PORT {port}")
    ports = [(p.get("containerPort"), p.get("protocol", "TCP")) for p in container.get("ports", [])]
    if ports != [(port, "TCP")]:
        errors.append(f"container ports {ports} != image port {port}/TCP")
    if k8s_env.get("NEWSFLOW_WEB_PORT", str(port)) != str(port):
        errors.append(f"ConfigMap NEWSFLOW_WEB_PORT {k8s_env['NEWSFLOW_WEB_PORT']} != {port}")
    if str(port) not in " ".join(image.healthcheck):
        errors.append(f"image HEALTHCHECK does not call port {port}: {image.healthcheck}")

    # Probe paths: the image's HEALTHCHECK and the pod's probes call the worker's own endpoints.
    image_paths = set(_PATH_IN_CMD.findall(" ".join(image.healthcheck)))
    if image_paths != {LIVE_PATH}:
        errors.append(f"image HEALTHCHECK calls {sorted(image_paths)}, not {LIVE_PATH}")
    for probe, want in (("startupProbe", LIVE_PATH), ("livenessProbe", LIVE_PATH),
                        ("readinessProbe", READY_PATH)):
        got = container.get(probe, {}).get("httpGet", {})
        if got.get("path") != want:
            errors.append(f"{probe} path {got.get('path')} != {want}")
        named = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        if named.get(got.get("port"), got.get("port")) != port:
            errors.append(f"{probe} port {got.get('port')} is not the image port {port}")

    # Environment: every NEWSFLOW_* name is a setting; what both set, they set alike.
    errors += _unknown_env("image", image.env)
    errors += _env_disagreements(image, "manifests", env_names, k8s_env)

    # Read-only root filesystem; the writable mounts are exactly what the image writes to.
    sec = container.get("securityContext", {})
    if sec.get("readOnlyRootFilesystem") is not True:
        errors.append("container securityContext.readOnlyRootFilesystem is not true")
    writable = {m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")}
    if writable != set(image.writable):
        errors.append(f"writable mounts {sorted(writable)} != the image's volumes and HOME "
                      f"{sorted(image.writable)}")
    data_dir = image.env.get("NEWSFLOW_DATA_DIR")
    if data_dir not in image.volumes:
        errors.append(f"image NEWSFLOW_DATA_DIR {data_dir} is not one of its VOLUMEs")
    if image.workdir not in image.writable:
        errors.append(f"image WORKDIR {image.workdir} is not writable with a read-only root")

    # Entry point: the pod runs the image's own.
    if "command" in container or "args" in container:
        errors.append("the worker container overrides the image's ENTRYPOINT/CMD")
    if not image.entrypoint:
        errors.append("image has no ENTRYPOINT")

    if compose is not None:
        errors += _compose_disagreements(image, compose["services"]["worker"])
    return errors


def _unknown_env(where: str, names: Iterable[str]) -> list[str]:
    """NEWSFLOW_* (and other) names that are neither settings nor known non-settings."""
    unknown = sorted(n for n in names if n not in NON_SETTINGS_ENV and not _settings_name(n))
    return [f"{where} environment names that are not settings: {unknown}"] if unknown else []


def _env_disagreements(image: ImageConfig, where: str, names: Iterable[str],
                       values: dict[str, str]) -> list[str]:
    """Unknown names in ``where``, and values it sets differently from the image."""
    errors = _unknown_env(where, names)
    for name in sorted(set(image.env) & set(values)):
        if image.env[name] != values[name]:
            errors.append(f"{name}: image {image.env[name]!r} != {where} {values[name]!r}")
    return errors


def _compose_disagreements(image: ImageConfig, worker: dict[str, Any]) -> list[str]:
    errors = []
    env = {k: str(v) for k, v in worker.get("environment", {}).items()}
    port = image.port
    if env.get("NEWSFLOW_WEB_PORT", str(port)) != str(port):
        errors.append(f"compose NEWSFLOW_WEB_PORT {env['NEWSFLOW_WEB_PORT']} != image {port}")
    if [str(p) for p in worker.get("expose", [])] != [str(port)]:
        errors.append(f"compose expose {worker.get('expose')} != image port {port}")
    test = " ".join(worker.get("healthcheck", {}).get("test", []))
    if set(_PATH_IN_CMD.findall(test)) != {LIVE_PATH} or str(port) not in test:
        errors.append(f"compose healthcheck {test!r} does not call {LIVE_PATH} on {port}")
    errors += _env_disagreements(image, "compose", env, env)
    targets = {str(v).split(":")[1] for v in worker.get("volumes", []) if ":" in str(v)}
    if not image.volumes <= targets:
        errors.append(f"compose worker volumes {sorted(targets)} miss the image's "
                      f"{sorted(image.volumes)}")
    entrypoint = worker.get("entrypoint") or []
    script = entrypoint[-1] if entrypoint else ""
    if not script.rstrip().endswith("exec " + " ".join(image.entrypoint)):
        errors.append(f"compose worker entrypoint does not end in `exec "
                      f"{' '.join(image.entrypoint)}`: {entrypoint}")
    return errors


__all__ = ["LIVE_PATH", "METRICS_PATH", "READY_PATH", "ImageConfig", "disagreements",
           "from_dockerfile", "from_inspect", "worker_container"]
