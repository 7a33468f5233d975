"""The /metrics endpoint: every process's metrics summed, plus per-role process figures.

prometheus_client's multiprocess mode keeps each process's values in files of
one folder (``PROMETHEUS_MULTIPROC_DIR``) and sums them at scrape time.  The
variable must be set before prometheus_client is first imported in a process,
so the entry point calls :func:`use_folder` before anything imports
``metrics.families``, and spawned children inherit it.  The supervisor (or the
single process when ``workers = 0``) serves the endpoint and adds what only it
can see (:class:`ProcessCollector`): CPU and memory of every process by role,
child restarts, and the GPUs through NVML when there are any.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ocrserve.errors import OcrError
from ocrserve.memory import nvml_handles

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def use_folder(folder: Path) -> None:
    """Record metrics of this process and its future children in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(folder)


def mark_dead(pid: int) -> None:
    """A child exited: its live gauges (pending items, open streams) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, os.environ[ENV])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def resident_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        return None


class ProcessTable:
    """Which pid plays which role, and the CPU time of those that exited, so that
    ``ocr_process_cpu_seconds_total`` never goes backwards when a child restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, str] = {}
        self._last_cpu: dict[int, float] = {}
        self._dead_cpu: dict[str, float] = {}
        self.restarts: dict[str, int] = {}

    def started(self, pid: int, role: str, *, restart: bool = False) -> None:
        with self._lock:
            self._live[pid] = role
            self._dead_cpu.setdefault(role, 0.0)
            self.restarts.setdefault(role, 0)
            if restart:
                self.restarts[role] += 1

    def exited(self, pid: int) -> None:
        with self._lock:
            role = self._live.pop(pid, None)
            if role is not None:
                self._dead_cpu[role] += self._last_cpu.pop(pid, 0.0)

    def sample(self) -> tuple[dict[str, float], dict[str, int]]:
        """CPU seconds (exited processes included) and resident bytes, by role."""
        with self._lock:
            cpu = dict(self._dead_cpu)
            memory = dict.fromkeys(cpu, 0)
            for pid, role in self._live.items():
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    self._last_cpu[pid] = seconds
                cpu[role] = cpu.get(role, 0.0) + self._last_cpu.get(pid, 0.0)
                memory[role] = memory.get(role, 0) + (resident_bytes(pid) or 0)
            return cpu, memory


class ProcessCollector:
    """A prometheus_client collector of what the supervisor sees."""

    def __init__(self, table: ProcessTable) -> None:
        self._table = table
        self._gpus = nvml_handles()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        cpu, memory = self._table.sample()
        yield _family(CounterMetricFamily, "ocr_process_cpu_seconds",
                      "CPU time of the server's processes by role, exited ones included",
                      "role", cpu)
        yield _family(GaugeMetricFamily, "ocr_process_resident_memory_bytes",
                      "resident memory of the server's processes by role", "role", memory)
        yield _family(CounterMetricFamily, "ocr_process_restarts",
                      "children restarted by the supervisor, by role", "role",
                      self._table.restarts)
        yield from _gpu_families(self._gpus)


def _family(kind: Any, name: str, help_text: str, label: str,
            values: Mapping[str, float]) -> Any:
    family = kind(name, help_text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _gpu_families(handles: list[Any]) -> Iterable[Any]:
    if not handles:
        return []
    import pynvml
    from prometheus_client.core import GaugeMetricFamily

    readers: dict[str, tuple[str, Callable[[Any], float]]] = {
        "ocr_gpu_utilization_ratio": (
            "GPU busy fraction over the driver's last sample period",
            lambda h: pynvml.nvmlDeviceGetUtilizationRates(h).gpu / 100),
        "ocr_gpu_memory_used_bytes": (
            "GPU memory in use", lambda h: pynvml.nvmlDeviceGetMemoryInfo(h).used),
        "ocr_gpu_memory_total_bytes": (
            "GPU memory in all", lambda h: pynvml.nvmlDeviceGetMemoryInfo(h).total),
        "ocr_gpu_power_watts": (
            "GPU power draw", lambda h: pynvml.nvmlDeviceGetPowerUsage(h) / 1000),
    }
    families = []
    for name, (help_text, read) in readers.items():
        family = GaugeMetricFamily(name, help_text, labels=["gpu"])
        for index, handle in enumerate(handles):
            try:
                family.add_metric([str(index)], read(handle))
            except Exception:  # e.g. power not supported on this board
                continue
        families.append(family)
    return families


def serve_metrics(host: str, port: int, table: ProcessTable) -> int:
    """Serve /metrics on ``host:port`` from a daemon thread; returns the port bound.

    With a metrics folder (:func:`use_folder`), the sum of every process's files;
    without one (a single process), this process's own registry.
    """
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    if ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    registry.register(ProcessCollector(table))
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise OcrError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc} "
                       "(metrics_port; -1 turns them off)") from None
    bound = int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound
