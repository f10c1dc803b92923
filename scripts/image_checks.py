"""Run the built newsflow image against a real broker and check it (scripts/test-image.sh).

    python scripts/image_checks.py --image localhost/newsflow:test

The worker container runs as Kubernetes runs it (deploy/k8s/base/statefulset.yaml): the image's
own user, a read-only root filesystem with exactly the manifest's writable volumes (emptyDir ->
tmpfs, the data volume -> a podman volume), no capabilities, no privilege escalation, the
manifest's memory limit; and with the command Compose runs (docker-compose.yml's worker
entrypoint). ``--network=host`` reaches the broker at KAFKA_BOOTSTRAP_SERVERS (default the local
one, 127.0.0.1:19092). Topics and the consumer group carry a prefix of this run's own, and are
deleted afterwards. Then the same image runs ``newsflow demo`` on samples/corpus.jsonl.

Each check prints PASS or FAIL with what it saw; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import image_contract  # noqa: E402
import validate_deploy  # noqa: E402

from workers.codec import Codec  # noqa: E402
from workers.kafka.io import create_topics, delete_run_topics, read_topics  # noqa: E402
from workers.settings import Settings  # noqa: E402
from workers.tools.demo import free_port, run_settings, worker_env  # noqa: E402

STATEFULSET = REPO / "deploy" / "k8s" / "base" / "statefulset.yaml"
COMPOSE = REPO / "docker-compose.yml"
CAPS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
# Files the container runtime itself bind-mounts (Kubernetes mounts the same kind of files).
RUNTIME_FILES = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run/.containerenv"}


class Report:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.started = time.monotonic()

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        stamp = f"{time.monotonic() - self.started:6.1f}s"
        print(f"{stamp}  {'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}",
              flush=True)
        if not ok:
            self.failed.append(name)
        return ok

    def skip(self, name: str, why: str) -> None:
        if os.environ.get("CI", "").lower() == "true":
            self.check(name, False, f"{why} (CI=true: this must run)")
        else:
            print(f"        SKIP  {name}: {why}", flush=True)


# scripts/test-image.sh gives podman a store of the checkout's own (--root/--runroot/--tmpdir).
PODMAN = shlex.split(os.environ.get("NEWSFLOW_PODMAN", "podman"))


def podman(*args: str, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout,
                          check=check)


def http_get(port: int, path: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- what the manifests say ------------------------------------------------------------------


def k8s_runtime() -> dict[str, Any]:
    """The worker container's runtime settings from the StatefulSet (base: every overlay's)."""
    sts = yaml.safe_load(STATEFULSET.read_text(encoding="utf-8"))
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    writable = []
    for mount in container["volumeMounts"]:
        if mount.get("readOnly"):
            continue
        source = volumes.get(mount["name"], {})
        if "emptyDir" in source:
            writable.append(("tmpfs", mount["mountPath"], source["emptyDir"].get("sizeLimit")))
        elif mount["name"] in claims:
            writable.append(("volume", mount["mountPath"], None))
        else:
            raise ValueError(f"writable mount {mount} of an unexpected kind")
    return {
        "grace": int(pod["terminationGracePeriodSeconds"]),
        "memory": container["resources"]["limits"]["memory"],
        "writable": writable,
        "security": container["securityContext"],
        "env": {e["name"]: e["value"] for e in container.get("env", []) if "value" in e},
    }


def compose_worker_entrypoint() -> list[str]:
    """docker-compose.yml's worker command, with Compose's `$$` escapes resolved."""
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return [part.replace("$$", "$") for part in compose["services"]["worker"]["entrypoint"]]


def podman_size(quantity: str) -> str:
    """A Kubernetes quantity (256Mi, 1536Mi, 1Gi) as podman's (256m, 1536m, 1g)."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    if not match:
        raise ValueError(f"unsupported quantity {quantity}")
    return match[1] + {"Ki": "k", "Mi": "m", "Gi": "g"}[match[2]]


def locked_down(runtime: dict[str, Any], prefix: str) -> tuple[list[str], list[str]]:
    """podman run options for the manifest's security context and writable volumes, and the
    names of the volumes created for them."""
    sec = runtime["security"]
    # No health-check timer: podman makes it with systemd, which this kind of machine may lack;
    # the check runs it by hand (`podman healthcheck run`).
    opts = ["--network=host", "--health-interval=disable",
            "--memory", podman_size(runtime["memory"])]
    if sec.get("readOnlyRootFilesystem"):
        # --read-only alone would add tmpfs on /tmp, /run and /var/tmp: only the manifest's here.
        opts += ["--read-only", "--read-only-tmpfs=false"]
    if sec.get("capabilities", {}).get("drop") == ["ALL"]:
        opts.append("--cap-drop=ALL")
    if sec.get("allowPrivilegeEscalation") is False:
        opts.append("--security-opt=no-new-privileges")
    volumes = []
    for kind, path, size in runtime["writable"]:
        if kind == "tmpfs":
            opts += ["--tmpfs", f"{path}:rw,mode=1777" + (f",size={podman_size(size)}"
                                                          if size else "")]
        else:
            name = f"{prefix}-{len(volumes)}"
            podman("volume", "create", name, check=True)
            volumes.append(name)
            opts += ["--volume", f"{name}:{path}"]
    return opts, volumes


# --- checks ----------------------------------------------------------------------------------


def check_contract(report: Report, image: str) -> None:
    inspect = json.loads(podman("image", "inspect", image, check=True).stdout)[0]
    config = image_contract.from_inspect(inspect)
    tools = validate_deploy.Tools.default()
    if tools.missing():
        report.skip("image config agrees with the manifests",
                    f"kustomize missing ({', '.join(tools.missing())}); "
                    "run scripts/install-deploy-tools.sh")
        return
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    for overlay in ("dev", "prod"):
        objects = validate_deploy.kustomize_build(tools, REPO / "deploy" / "k8s" / "overlays"
                                                  / overlay)
        errors = image_contract.disagreements(config, objects, compose)
        report.check(f"image config agrees with overlays/{overlay} and docker-compose.yml",
                     not errors, "; ".join(errors) or
                     f"user {config.user}, port {config.port}, writable "
                     f"{sorted(config.writable)}, entrypoint {' '.join(config.entrypoint)}")


def seed_message(settings: Settings) -> tuple[bytes, bool]:
    """The seed article (shared data) as a raw message; else the first sample article."""
    data = settings.shared_data_dir
    if not data.is_absolute():
        data = (REPO / data).resolve()
    seed = data / "seed-article.txt"
    if seed.is_file():
        return orjson.dumps({"id": "seed-article", "body": seed.read_text(encoding="utf-8"),
                             "content_type": "text/plain"}), True
    if os.environ.get("CI", "").lower() == "true":
        raise SystemExit(f"{seed} is missing (CI=true: the shared data must be there)")
    print(f"        note: {seed} missing; the first article of samples/corpus.jsonl instead")
    line = (REPO / "samples" / "corpus.jsonl").read_bytes().splitlines()[0]
    return line, False


def wait_ready(report: Report, name: str, port: int, timeout: float) -> bool:
    started = time.monotonic()
    status = 0
    while time.monotonic() - started < timeout:
        state = podman("inspect", name, "--format", "{{.State.Status}}").stdout.strip()
        if state not in ("running", "created", "configured"):
            return report.check("/health/ready turns 200", False, f"container is {state}")
        try:
            status, _ = http_get(port, image_contract.READY_PATH)
        except OSError:
            status = 0
        if status == 200:
            return report.check("/health/ready turns 200", True,
                                f"after {time.monotonic() - started:.1f} s")
        time.sleep(1)
    return report.check("/health/ready turns 200", False,
                        f"last status {status} after {timeout:.0f} s")


def check_process(report: Report, name: str, uid_gid: tuple[int, int] | None) -> None:
    status = podman("exec", name, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = fields.get("Uid", "").split()
    gids = fields.get("Gid", "").split()
    want = uid_gid or (-1, -1)
    report.check("runs as a non-root user", uids == [str(want[0])] * 4
                 and gids == [str(want[1])] * 4 and want[0] != 0,
                 f"PID 1 uid {'/'.join(uids)} gid {'/'.join(gids)}; image USER {want[0]}:{want[1]}")
    caps = {c: fields.get(c, "").strip() for c in CAPS}
    report.check("no capabilities", all(v and int(v, 16) == 0 for v in caps.values())
                 and fields.get("NoNewPrivs", "").strip() == "1",
                 " ".join(f"{k}={v}" for k, v in caps.items())
                 + f" NoNewPrivs={fields.get('NoNewPrivs', '').strip()}")


def check_filesystem(report: Report, name: str, writable: set[str]) -> None:
    inspect = json.loads(podman("inspect", name).stdout)[0]
    readonly = inspect["HostConfig"].get("ReadonlyRootfs")
    # As root inside the container: only a read-only mount stops root from writing there.
    probe = podman("exec", "--user", "0", name, "touch", "/opt/venv/probe")
    report.check("read-only root filesystem", bool(readonly) and probe.returncode != 0
                 and "Read-only file system" in probe.stderr,
                 f"ReadonlyRootfs={readonly}; root writing /opt/venv: "
                 f"{probe.stderr.strip() or 'succeeded'}")
    mounts = []
    for line in podman("exec", name, "cat", "/proc/1/mountinfo").stdout.splitlines():
        parts = line.split()
        point, options = parts[4], parts[5].split(",")
        if "rw" not in options or point in RUNTIME_FILES:
            continue
        if point in ("/proc", "/sys", "/dev") or point.startswith(("/proc/", "/sys/", "/dev/")):
            continue
        mounts.append(point)
    touched = podman("exec", name, "sh", "-c",
                     " && ".join(f"touch {p}/.probe && rm {p}/.probe" for p in sorted(writable)))
    wrote = "yes" if touched.returncode == 0 else touched.stderr.strip()
    report.check("writable paths are the manifest's", set(mounts) == writable
                 and touched.returncode == 0,
                 f"rw mounts {sorted(mounts)}, manifest {sorted(writable)}; "
                 f"the worker user writes them: {wrote}")


def check_seed(report: Report, image: str, run: Settings, opts: list[str], env: list[str],
               message: bytes, is_seed: bool, workdir: Path) -> None:
    (workdir / "seed.jsonl").write_bytes(message + b"\n")
    workdir.chmod(0o755)
    (workdir / "seed.jsonl").chmod(0o644)
    produced = podman("run", "--rm", *opts, *env,
                      "--volume", f"{workdir}:/data:ro", "--entrypoint", "newsflow", image,
                      "produce", "/data/seed.jsonl", timeout=120)
    report.check("seed article produced by the image (`newsflow produce`)",
                 produced.returncode == 0,
                 (produced.stdout.strip().splitlines() or [""])[-1] if produced.returncode == 0
                 else produced.stderr.strip()[-500:])
    want_id = orjson.loads(message).get("id")

    async def collect() -> list[Any]:
        out = []
        async for rec in read_topics(run, [run.topic_enriched, run.topic_deadletter],
                                     follow=True, deadline=time.monotonic() + 240,
                                     until=lambda: bool(out)):
            out.append(rec)
        return out

    started = time.monotonic()
    records = asyncio.run(collect())
    if not records:
        report.check("seed article comes out enriched", False, "nothing within 240 s")
        return
    rec = records[0]
    doc = orjson.loads(rec.value or b"{}")
    errors = Codec().errors("enriched", doc) if rec.topic == run.topic_enriched else ["dead"]
    names = {e["name"] for e in doc.get("entities", [])}
    expected = {"NATO", "Jens Stoltenberg"} if is_seed else set()
    report.check(
        "seed article comes out enriched",
        rec.topic == run.topic_enriched and not errors and doc.get("id") == want_id
        and expected <= names and bool(doc.get("story_id")) and bool(doc.get("text")),
        f"{rec.topic} after {time.monotonic() - started:.1f} s: id {doc.get('id')}, "
        f"{len(doc.get('text', ''))} chars, {len(names)} entities "
        f"({', '.join(sorted(names)[:6])}...), story {doc.get('story_id')}"
        + (f"; schema errors {errors}" if errors else "")
        + ("" if rec.topic == run.topic_enriched else f"; {doc}"))


def check_metrics(report: Report, port: int) -> None:
    status, body = http_get(port, image_contract.METRICS_PATH)
    text = body.decode("utf-8", "replace")
    counts = {m[1]: float(m[2]) for m in re.finditer(
        r'^newsflow_stage_messages_in_total\{stage="(\w+)"\} (\S+)$', text, flags=re.M)}
    report.check("/metrics answers", status == 200 and counts.get("clean", 0) >= 1
                 and counts.get("tag", 0) >= 1,
                 f"HTTP {status}, {len(text.splitlines())} lines, messages in per stage {counts}")


def check_healthcheck(report: Report, name: str) -> None:
    proc = podman("healthcheck", "run", name, timeout=30)
    said = (proc.stdout + proc.stderr).strip().splitlines()
    report.check("the image's HEALTHCHECK passes", proc.returncode == 0,
                 said[-1] if said else f"exit code {proc.returncode}")


def check_sigterm(report: Report, name: str, grace: int) -> None:
    started = time.monotonic()
    podman("kill", "--signal", "TERM", name, check=True)
    try:
        podman("wait", name, timeout=grace + 5)
    except subprocess.TimeoutExpired:
        podman("kill", "--signal", "KILL", name)
    elapsed = time.monotonic() - started
    code = podman("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
    report.check("SIGTERM stops it with exit code 0 within the grace period",
                 code == "0" and elapsed < grace,
                 f"exit code {code} after {elapsed:.1f} s; terminationGracePeriodSeconds {grace}")


def check_demo(report: Report, image: str, runtime: dict[str, Any], kafka: Settings,
               prefix: str) -> None:
    opts, volumes = locked_down(runtime, f"{prefix}-demo")
    try:
        started = time.monotonic()
        proc = podman("run", "--rm", *opts,
                      "--env", f"KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}",
                      "--env", "NEWSFLOW_TAG_WORKERS=1",
                      *[f"--env={k}={v}" for k, v in runtime["env"].items()],
                      "--volume", f"{REPO / 'samples'}:/data:ro", "--entrypoint", "newsflow",
                      image, "demo", "--corpus", "/data/corpus.jsonl", "--timeout", "300",
                      timeout=600)
        out = proc.stdout + proc.stderr
        match = re.search(r"accounted for\s*│?\s*(\d+)/(\d+)", out)
        for line in out.splitlines():
            if "│" in line or "summary" in line or "worker stopped" in line:
                print(f"        | {line}")
        report.check("`newsflow demo` runs in the image against the host broker",
                     proc.returncode == 0 and match is not None and match[1] == match[2],
                     f"exit code {proc.returncode} after {time.monotonic() - started:.1f} s, "
                     f"accounted for {match[0].split()[-1] if match else '?'}"
                     + ("" if proc.returncode == 0 else f"\n{out[-2000:]}"))
    finally:
        for volume in volumes:
            podman("volume", "rm", "-f", volume)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="localhost/newsflow:test")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()

    report = Report()
    kafka = Settings()
    runtime = k8s_runtime()
    prefix = f"img{uuid.uuid4().hex[:8]}"
    port = free_port()
    run = run_settings(kafka, prefix, web_port=port, tag_workers=1)
    print(f"        run {prefix}: broker {kafka.bootstrap_servers}, web port {port}, "
          f"memory limit {runtime['memory']}, grace {runtime['grace']} s")

    check_contract(report, args.image)
    config = image_contract.from_inspect(
        json.loads(podman("image", "inspect", args.image, check=True).stdout)[0])

    # The run's own topics and consumer group, as settings the container reads from its env.
    env_vars = {k: v for k, v in worker_env(run).items()
                if k.startswith("NEWSFLOW_TOPIC_") or k.startswith("NEWSFLOW_PARTITIONS_")
                or k in ("NEWSFLOW_APP_ID", "NEWSFLOW_WEB_PORT", "NEWSFLOW_TAG_WORKERS",
                         "KAFKA_BOOTSTRAP_SERVERS")}
    env_vars.update(runtime["env"])
    env = [f"--env={k}={v}" for k, v in sorted(env_vars.items())]
    asyncio.run(create_topics(run))
    name = f"newsflow-{prefix}"
    opts, volumes = locked_down(runtime, prefix)
    entrypoint = compose_worker_entrypoint()
    try:
        started = podman("run", "-d", "--name", name, "--hostname", "newsflow-worker-0",
                         *opts, *env, "--entrypoint", json.dumps(entrypoint), args.image)
        limit = podman("inspect", name, "--format", "{{.HostConfig.Memory}}").stdout.strip()
        if not report.check("worker container starts (docker-compose.yml's worker command)",
                            started.returncode == 0,
                            f"{' '.join(entrypoint)}; memory limit {limit} bytes"
                            if started.returncode == 0 else started.stderr.strip()[-500:]):
            return 1
        if wait_ready(report, name, port, timeout=240):
            check_process(report, name, config.uid_gid)
            check_filesystem(report, name, {path for _, path, _ in runtime["writable"]})
            with tempfile.TemporaryDirectory(prefix="newsflow-image-") as tmp:
                message, is_seed = seed_message(kafka)
                check_seed(report, args.image, run,
                           ["--network=host", "--health-interval=disable"], env, message, is_seed,
                           Path(tmp))
            check_metrics(report, port)
            usage = podman("stats", "--no-stream", "--format", "{{.MemUsage}}", name)
            print(f"        memory in use (worker and its tagging process): "
                  f"{usage.stdout.strip() or usage.stderr.strip()[-200:]}")
            check_healthcheck(report, name)
            state = podman("exec", name, "sh", "-c",
                           'ls -A "$NEWSFLOW_DATA_DIR/$(hostname)" | head -5').stdout.split()
            report.check("RocksDB tables in the data volume (per-host folder, as in Compose)",
                         bool(state), f"{', '.join(state) or 'empty'}")
        check_sigterm(report, name, runtime["grace"])
        logs = podman("logs", name).stderr + podman("logs", name).stdout
        errors = [line for line in logs.splitlines()
                  if '"level": "error"' in line or '"level": "critical"' in line]
        report.check("no error in the worker's log", not errors,
                     f"{len(logs.splitlines())} log lines" + (f"; {errors[:3]}" if errors else ""))
        if report.failed:
            print("        last log lines:\n" + "\n".join(logs.splitlines()[-25:]))
    finally:
        podman("rm", "-f", name)
        for volume in volumes:
            podman("volume", "rm", "-f", volume)
        asyncio.run(delete_run_topics(run))

    if not args.skip_demo:
        check_demo(report, args.image, runtime, kafka, prefix)

    total = time.monotonic() - report.started
    if report.failed:
        print(f"image checks: {len(report.failed)} FAILED in {total:.0f} s: "
              f"{', '.join(report.failed)}")
        return 1
    print(f"image checks: all passed in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
