"""A local single-node Apache Kafka broker (KRaft) for development, the demo and the tests.

``newsflow kafka up`` resolves the broker (``org.apache.kafka:kafka_2.13`` and its runtime
dependencies) from Maven Central with Maven into ``settings.kafka_home``, formats KRaft storage
once, starts the broker on 127.0.0.1 and waits until it answers; ``down`` stops it cleanly
(SIGTERM, then SIGKILL after a grace period). Nothing here is used when
``KAFKA_BOOTSTRAP_SERVERS`` points at another broker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from workers.errors import KafkaSetupError
from workers.settings import Settings

log = logging.getLogger(__name__)

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.newsflow</groupId><artifactId>local-kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>2.24.3</version></dependency>
  </dependencies>
</project>
"""

_LOG4J = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
"""


@dataclass(frozen=True)
class LocalKafka:
    """Paths and commands of one local broker installation."""

    settings: Settings

    @property
    def home(self) -> Path:
        return self.settings.kafka_home.expanduser().resolve() / self.settings.kafka_version

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def data(self) -> Path:
        return self.home / f"data-{self.settings.kafka_port}"

    @property
    def config(self) -> Path:
        return self.home / f"server-{self.settings.kafka_port}.properties"

    @property
    def pid_file(self) -> Path:
        return self.home / f"broker-{self.settings.kafka_port}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"broker-{self.settings.kafka_port}.log"

    # --- resolve ----------------------------------------------------------------------------
    def resolve(self) -> None:
        """Download the broker's jars with Maven (once; later calls reuse the cache)."""
        if self.lib.is_dir() and any(self.lib.glob("kafka_2.13-*.jar")):
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaSetupError(
                "Maven (mvn) is not on PATH; install it (apt-get install maven) or point "
                "KAFKA_BOOTSTRAP_SERVERS at an existing broker"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "pom.xml").write_text(_POM.format(version=self.settings.kafka_version))
        tmp = self.home / "lib.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("resolving Apache Kafka %s from Maven Central", self.settings.kafka_version)
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={tmp}",
                "-DincludeScope=runtime",
            ],
            cwd=self.home,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise KafkaSetupError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:"
                f"{self.settings.kafka_version}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        tmp.rename(self.lib)

    def _java(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        java = shutil.which("java")
        if java is None:
            raise KafkaSetupError("java is not on PATH; Kafka needs Java 17 or newer")
        return subprocess.run(
            [java, "-cp", f"{self.lib}/*", *args],
            capture_output=True,
            text=True,
            check=False,
            **kwargs,
        )

    def write_config(self) -> None:
        s = self.settings
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},"
                    f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=1",
                    # Topics are created by `newsflow topics create` with their partition counts; a
                    # producer must never create one silently with the wrong count.
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=8",
                    "group.initial.rebalance.delay.ms=0",
                    # The worker enforces its own size limit (1 MiB default); the broker accepts
                    # more, so oversized messages reach the worker and are dead-lettered.
                    "message.max.bytes=10485760",
                    "replica.fetch.max.bytes=10485760",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (self.home / "log4j2.properties").write_text(_LOG4J.format(log=self.log_file))

    def format_storage(self) -> None:
        if (self.data / "meta.properties").exists():
            return
        cluster = self._java("kafka.tools.StorageTool", "random-uuid").stdout.strip()
        cluster = cluster.splitlines()[-1] if cluster else uuid.uuid4().hex[:22]
        proc = self._java(
            "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(self.config)
        )
        if proc.returncode != 0:
            raise KafkaSetupError(f"formatting KRaft storage failed:\n{proc.stderr[-2000:]}")

    # --- lifecycle --------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if running(pid) else None

    def port_open(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.settings.kafka_port)) == 0

    def up(self, timeout: float = 90.0) -> bool:
        """Start the broker unless it runs; returns True if this call started it."""
        if self.pid() is not None:
            asyncio.run(wait_for_broker(self.settings.bootstrap_servers, timeout))
            return False
        if self.port_open():
            raise KafkaSetupError(
                f"port {self.settings.kafka_port} is taken by another process; set "
                "NEWSFLOW_KAFKA_PORT to a free port or KAFKA_BOOTSTRAP_SERVERS to that broker"
            )
        self.resolve()
        self.write_config()
        self.format_storage()
        java = shutil.which("java") or "java"
        heap = os.environ.get("NEWSFLOW_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
        with open(self.log_file, "ab") as out:
            proc = subprocess.Popen(
                [
                    java,
                    *heap,
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                    "-cp",
                    f"{self.lib}/*",
                    "kafka.Kafka",
                    str(self.config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            asyncio.run(wait_for_broker(self.settings.bootstrap_servers, timeout))
        except Exception:
            self.down()
            raise
        return True

    def down(self, grace: float = 30.0) -> bool:
        """Stop the broker; returns True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not running(pid):
                break
            time.sleep(0.2)
        else:
            log.warning("broker %d ignored SIGTERM for %.0f s; killing it", pid, grace)
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Delete the broker's data (it must be stopped)."""
        if self.pid() is not None:
            raise KafkaSetupError("stop the broker first (newsflow kafka down)")
        shutil.rmtree(self.data, ignore_errors=True)


def running(pid: int) -> bool:
    """Whether process ``pid`` runs. A broker that exited but was not yet reaped by its parent
    (a zombie: the process that started it is still alive, or PID 1 does not reap) counts as
    gone; if it is our own child it is reaped here."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our child, exited, now reaped
    except ChildProcessError:
        pass  # not our child
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def wait_for_broker(bootstrap: str, timeout: float = 60.0) -> None:
    """Wait until the broker answers a metadata request."""
    deadline = time.monotonic() + timeout
    # aiokafka logs every refused connection at ERROR while the broker starts; that is expected.
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        await _poll(bootstrap, deadline)
    finally:
        quiet.setLevel(level)


async def _poll(bootstrap: str, deadline: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except Exception as exc:  # the broker is still starting
            last = exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    raise KafkaSetupError(f"broker {bootstrap} did not answer in time: {last}")


@contextmanager
def broker_for(settings: Settings) -> Iterator[bool]:
    """The broker of ``settings`` for the duration of the block: the local one is started if it
    is used and not running, and stopped afterwards only if it was started here. The block gets
    whether it was started here (a broker just started is cold: its JIT has not compiled its
    hot paths yet, and it costs more CPU per message)."""
    local = LocalKafka(settings) if settings.uses_local_kafka else None
    started = local.up() if local is not None else False
    try:
        yield started
    finally:
        if started and local is not None:
            local.down()
