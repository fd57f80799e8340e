"""One `/metrics` for an instance of several worker processes (`healthcare serve
--workers N`, N > 1): prometheus_client's multiprocess mode.

The supervisor makes a private folder and names it in PROMETHEUS_MULTIPROC_DIR before
uvicorn starts the workers (`shared_folder`). prometheus_client reads that variable when
it is imported, and uvicorn spawns each worker as a fresh interpreter, which inherits it:
every worker then keeps each value in a memory-mapped file of that folder, one file per
kind of metric and pid. A scrape, whichever worker accepts it, reads every file
(`WorkersCollector`):

- counters and histograms are summed over every worker that ever ran: the files of a
  worker that died or was replaced stay, so a counter never goes back;
- gauges say how they combine where they are declared (metrics.py), each in a `live*`
  mode, since a dead worker's sockets, subscriptions and pool are gone with it.
  prometheus_client drops a dead pid's live files when told `mark_process_dead(pid)`.
  uvicorn's supervisor has no hook where a worker exits (it replaces dead workers in a
  loop of its own), and a worker killed by SIGKILL or the OOM killer cannot say it is
  going, so the scrape says it for them: before reading, it marks dead every pid in the
  folder that is no longer a running worker of this supervisor;
- `process_*` are each worker's own, read from /proc/<pid> at scrape time and labelled
  `pid`: a sum of start times or of fd limits means nothing, and a worker that is busier
  or larger than the others is what an operator looks for. `python_gc_*` is not served:
  only the scraping worker's collector could be read.

The supervisor removes the folder when it stops. One killed by SIGKILL cannot: its folder
stays in the temporary directory (a few sparse files) until the next supervisor starts,
which removes every folder of its kind whose supervisor (named in the folder's name) is
no longer running (`sweep_stale_folders`). With one worker nothing
here runs and metrics.py keeps a registry of its own with the standard collectors (unless
the operator set the variable: then that process reads its own files the same way).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from healthcare.config import ConfigurationError

logger = logging.getLogger(__name__)

FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
FOLDER_PREFIX = "healthcare-metrics-"  # then the supervisor's pid, a dash, mkdtemp's name
PROC = Path("/proc")


def enabled() -> bool:
    """Whether prometheus_client keeps this process's values in the shared folder: it
    chose so when it was imported, from the environment, and cannot change its mind."""
    return bool(values.ValueClass._multiprocess)


@contextlib.contextmanager
def shared_folder(workers: int) -> Iterator[None]:
    """In the supervisor, around starting the workers: with more than one, a fresh
    private folder for their metrics in the environment they inherit, removed when the
    supervisor is done. An operator's own PROMETHEUS_MULTIPROC_DIR is used as it is (it
    must be empty at start: the files of an earlier run would be added in)."""
    if workers < 2:
        yield
        return
    chosen = os.environ.get(FOLDER_VARIABLE)
    if chosen is not None:
        if not Path(chosen).is_dir():
            raise ConfigurationError(f"{FOLDER_VARIABLE}={chosen!r} is not a directory.")
        if any(Path(chosen).glob("*.db")):
            logger.warning(
                "%s holds an earlier run's metrics: its counts are added to this run's",
                FOLDER_VARIABLE,
            )
        yield
        return
    sweep_stale_folders()
    # mode 0700: this user only
    folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
    os.environ[FOLDER_VARIABLE] = folder
    try:
        yield
    finally:
        os.environ.pop(FOLDER_VARIABLE, None)
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_folders() -> list[Path]:
    """Remove the folders that supervisors killed before they could remove their own left
    in the temporary directory: this user's, named for a pid no longer running. The ones
    removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name.removeprefix(FOLDER_PREFIX).split("-", 1)[0]
        try:
            owned = folder.is_dir() and folder.stat().st_uid == os.getuid()
        except OSError:
            continue
        if owned and pid.isdigit() and not (PROC / pid).exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        logger.info("removed %d metrics folders of supervisors that had died", len(removed))
    return removed


def forget_earlier_process() -> None:
    """In a worker, before its first gauge: drop live gauge files that an earlier process
    with this pid left (one that died before any scrape noticed), which the new gauges
    would otherwise start from."""
    _mark_dead(os.getpid(), os.environ[FOLDER_VARIABLE])


def instance_registry() -> CollectorRegistry:
    """What `/metrics` serves in multiprocess mode: every worker's series."""
    registry = CollectorRegistry()
    registry.register(WorkersCollector(os.environ[FOLDER_VARIABLE]))
    PlatformCollector(registry=registry)  # the same interpreter in every worker
    return registry


class WorkersCollector(Collector):
    """Every worker's series from the folder, once the dead are marked so; and the
    running workers' process figures."""

    def __init__(self, folder: str) -> None:
        self._folder = folder
        self._files = MultiProcessCollector(None, folder)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        running = []
        for pid in self._pids():
            if _running_worker(pid):
                running.append(pid)
            else:
                _mark_dead(pid, self._folder)
        every_workers: Iterable[Metric] = self._files.collect()  # type: ignore[no-untyped-call]
        return [*every_workers, *_process_metrics(running)]

    def _pids(self) -> set[int]:
        """Every pid with a file in the folder (`counter_123.db`, `gauge_livesum_123.db`)."""
        found = set()
        for path in Path(self._folder).glob("*.db"):
            with contextlib.suppress(ValueError):
                found.add(int(path.stem.rsplit("_", 1)[1]))
        return found


def _mark_dead(pid: int, folder: str) -> None:
    """Drop the pid's live gauge files (`live*` modes): its sockets, pool and listener."""
    with contextlib.suppress(FileNotFoundError):  # another scrape was first
        mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]  # unannotated there


def _running_worker(pid: int) -> bool:
    """`pid` is this process, or another worker of its supervisor, still running. Not one:
    a dead worker's pid taken by an unrelated process (it has another parent), nor the
    supervisor, which made files of its own if the operator set the variable (it imported
    prometheus_client with it) but serves nothing (its `livemin` 0 would count)."""
    if pid == os.getpid():
        return True
    if not PROC.is_dir():  # not Linux: whether the pid exists at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's: it exists
            pass
        return True
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return False
    state, parent = stat.rsplit(b")", 1)[1].split()[:2]
    return state not in (b"Z", b"X") and int(parent) == os.getppid()


def _process_metrics(pids: list[int]) -> list[Metric]:
    """prometheus_client's process figures of each pid, labelled by pid."""
    families: dict[str, Metric] = {}
    for pid in sorted(pids):
        for family in _one_process(pid):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type)
            )
            for sample in family.samples:
                merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
    return list(families.values())


def _one_process(pid: int) -> Iterable[Metric]:
    return ProcessCollector(pid=lambda: pid, registry=None).collect()
