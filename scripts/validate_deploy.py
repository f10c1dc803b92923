"""Validate the deployment files offline: Compose, Dockerfile and every Kubernetes overlay.

Uses what ``scripts/install-deploy-tools.sh`` put under ``$NEWSFLOW_TOOLS_DIR`` (default
``~/.cache/newsflow/tools``): kustomize, hadolint, the Compose Specification JSON schema, the
Kubernetes OpenAPI (swagger) spec and the CRDs of Strimzi, the Prometheus Operator and KEDA.
Nothing is fetched from the network.

Kubernetes objects are validated the way kubeconform's ``-strict`` mode does it: the swagger
definitions become JSON schemas in which an object with declared properties accepts no others
(a misspelt field is an error), ``IntOrString`` takes either, a ``Quantity`` a string or a number;
custom resources are checked against their CRD's ``openAPIV3Schema`` with the same rules,
honouring ``x-kubernetes-preserve-unknown-fields`` and ``x-kubernetes-int-or-string``.

    python scripts/validate_deploy.py      # all checks, exit 1 on any error
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
OVERLAYS = ("dev", "prod")
_INT_OR_STRING = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
_QUANTITY = {"anyOf": [{"type": "string"}, {"type": "number"}]}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@dataclass(frozen=True)
class Tools:
    """Paths of the installed validators and schemas."""

    root: Path

    @classmethod
    def default(cls) -> Tools:
        env = os.environ.get("NEWSFLOW_TOOLS_DIR")
        return cls(Path(env) if env else Path.home() / ".cache" / "newsflow" / "tools")

    @property
    def kustomize(self) -> Path:
        return self.root / "bin" / "kustomize"

    @property
    def composecheck(self) -> Path:
        return self.root / "bin" / "composecheck"

    @property
    def hadolint(self) -> Path:
        return self.root / "venv" / "bin" / "hadolint"

    @property
    def compose_schema(self) -> Path:
        return self.root / "schemas" / "compose-spec.json"

    @property
    def kubernetes_swagger(self) -> Path:
        return self.root / "schemas" / "kubernetes-swagger.json"

    @property
    def crd_dir(self) -> Path:
        return self.root / "schemas" / "crds"

    def missing(self) -> list[str]:
        paths = [self.kustomize, self.composecheck, self.hadolint, self.compose_schema,
                 self.kubernetes_swagger]
        absent = [str(p) for p in paths if not p.exists()]
        if not any(self.crd_dir.glob("*.yaml")):
            absent.append(f"{self.crd_dir}/*.yaml")
        return absent


# --- Compose ---------------------------------------------------------------------------------


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` (``$$`` kept)."""
    env = dict(os.environ) if env is None else env
    return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def compose_bind_sources(
    doc: dict[str, Any], env: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """``(service, host path)`` of every bind mount, build context and env_file in ``doc``.

    Short volume syntax is interpolated before it is split (a default may hold a path).
    """
    for name, service in (doc.get("services") or {}).items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                spec = interpolate(volume, env)
                source = spec.split(":", 1)[0] if ":" in spec else ""
                if source.startswith((".", "/", "~")):
                    yield name, source
            elif volume.get("type") == "bind":
                yield name, volume["source"]
        build = service.get("build")
        if isinstance(build, dict):
            context = build.get("context", ".")
            yield name, context
            if "dockerfile" in build:
                yield name, str(Path(context) / build["dockerfile"])
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            yield name, env_file if isinstance(env_file, str) else env_file["path"]


def validate_compose(path: Path, schema_path: Path, env: dict[str, str] | None = None) -> list[str]:
    """Schema errors and missing mounted files of the Compose file at ``path``."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{path.name}: {_where(e)}: {e.message}" for e in validator.iter_errors(doc)]
    for service, source in compose_bind_sources(doc, env):
        resolved = (path.parent / interpolate(source, env)).resolve()
        if not resolved.exists():
            errors.append(f"{path.name}: service {service} mounts {source}: {resolved} is missing")
    return errors


def compose_config(
    tools: Tools, path: Path, profiles: Iterable[str] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Load ``path`` with compose-go, as ``docker compose config`` does (stdout: the project)."""
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSFLOW_", "COMPOSE_"))}
    run_env.update(env or {})
    return subprocess.run([str(tools.composecheck), str(path), *profiles], capture_output=True,
                          text=True, check=False, cwd=path.parent, env=run_env)


# --- Dockerfile ------------------------------------------------------------------------------


def hadolint(tools: Tools, dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """Run hadolint (every rule, warnings included, fail on warnings)."""
    return subprocess.run(
        [str(tools.hadolint), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True, text=True, check=False,
    )


# --- Kubernetes ------------------------------------------------------------------------------


def kustomize_build(tools: Tools, directory: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build directory`` renders (raises with its stderr on failure)."""
    proc = subprocess.run([str(tools.kustomize), "build", str(directory)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"kustomize build {directory} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _strict(node: Any) -> Any:
    """Apply kubeconform-style strictness to a schema tree (in place); returns ``node``."""
    if isinstance(node, dict):
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node.update(copy.deepcopy(_INT_OR_STRING))
        if node.get("nullable") and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for item in node:
            _strict(item)
    return node


class KubernetesSchemas:
    """Validators for built-in kinds (swagger) and custom resources (CRDs), built on demand."""

    def __init__(self, swagger_path: Path, crd_paths: Iterable[Path]) -> None:
        definitions = json.loads(swagger_path.read_text(encoding="utf-8"))["definitions"]
        definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = dict(_INT_OR_STRING)
        definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"] = dict(_QUANTITY)
        self._definitions = _strict(definitions)
        self._builtin: dict[tuple[str, str, str], str] = {}
        for name, definition in definitions.items():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                self._builtin[(gvk["group"], gvk["version"], gvk["kind"])] = name
        self._crds: dict[tuple[str, str, str], dict[str, Any]] = {}
        for path in crd_paths:
            for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                for version in spec["versions"]:
                    schema = version.get("schema", {}).get("openAPIV3Schema")
                    if version.get("served", True) and schema:
                        key = (spec["group"], version["name"], spec["names"]["kind"])
                        self._crds[key] = _strict(copy.deepcopy(schema))
        self._validators: dict[tuple[str, str, str], Any] = {}

    def _validator(self, key: tuple[str, str, str]) -> Any:
        if key not in self._validators:
            meta = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
            schema: dict[str, Any]
            if key in self._builtin:
                schema = {"$ref": f"#/definitions/{self._builtin[key]}"}
            elif key in self._crds:
                schema = copy.deepcopy(self._crds[key])
                schema.setdefault("properties", {})["metadata"] = meta
                schema.setdefault("required", [])
                schema["required"] = sorted({*schema["required"], "apiVersion", "kind"})
            else:
                return None
            schema["definitions"] = self._definitions
            self._validators[key] = jsonschema.Draft4Validator(schema)
        return self._validators[key]

    def validate(self, obj: dict[str, Any]) -> list[str]:
        api_version = str(obj.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        kind = str(obj.get("kind", ""))
        label = f"{kind}/{obj.get('metadata', {}).get('name', '?')}"
        validator = self._validator((group, version, kind))
        if validator is None:
            return [f"{label}: no schema for {api_version} {kind} (unknown kind or CRD missing)"]
        return [f"{label}: {_where(e)}: {e.message}" for e in validator.iter_errors(obj)]


def _where(error: jsonschema.ValidationError) -> str:
    return "/" + "/".join(str(p) for p in error.absolute_path)


def validate_overlay(tools: Tools, schemas: KubernetesSchemas, directory: Path) -> list[str]:
    """Render ``directory`` with kustomize and validate every object."""
    try:
        objects = kustomize_build(tools, directory)
    except RuntimeError as exc:
        return [str(exc)]
    if not objects:
        return [f"{directory}: kustomize rendered nothing"]
    return [f"{directory.name}: {msg}" for obj in objects for msg in schemas.validate(obj)]


def summary(tools: Tools, directory: Path) -> str:
    """``overlay: N objects (kinds)`` for the report."""
    objects = kustomize_build(tools, directory)
    kinds = sorted({str(o.get("kind")) for o in objects})
    return f"{directory.name}: {len(objects)} objects ({', '.join(kinds)})"


def main() -> int:
    tools = Tools.default()
    absent = tools.missing()
    if absent:
        print("missing (run scripts/install-deploy-tools.sh): " + ", ".join(absent))
        return 2
    errors = validate_compose(REPO / "docker-compose.yml", tools.compose_schema)
    loaded = compose_config(tools, REPO / "docker-compose.yml", ["replay"])
    if loaded.returncode != 0:
        errors.append(f"compose-go cannot load docker-compose.yml: {loaded.stderr.strip()}")
    lint = hadolint(tools, REPO / "deploy" / "Dockerfile")
    if lint.returncode != 0:
        errors.append(f"hadolint deploy/Dockerfile:\n{lint.stdout}{lint.stderr}")
    schemas = KubernetesSchemas(tools.kubernetes_swagger, sorted(tools.crd_dir.glob("*.yaml")))
    for overlay in OVERLAYS:
        directory = REPO / "deploy" / "k8s" / "overlays" / overlay
        errors += validate_overlay(tools, schemas, directory)
        print(summary(tools, directory))
    for line in errors:
        print(line)
    print("deploy files: " + ("OK" if not errors else f"{len(errors)} problem(s)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
