"""A batch of files restored on a dask.distributed cluster: each file is a task.

The single-process batch (midnet/images/batch.py) is the unit of work: every task runs
:func:`midnet.images.batch.attempt` on one file (through the frame pipeline's
:meth:`~midnet.pipeline.FramePipeline.restore_file`), so atomic writes, never overwriting inputs
or existing outputs, skipping finished outputs (a rerun resumes) and one line per bad file
all hold as they do on one machine. What the cluster adds:

- the frame pipeline (midnet/pipeline.py: the restorer, the domain watch, the spread of
  ``uncertainty``, the before/after picture) is built once per worker process
  (:class:`RestorerPlugin`, a ``WorkerPlugin`` named after its spec, so that two runs on one
  scheduler keep their own), with :meth:`midnet.pipeline.FramePipeline.build` and the settings
  the command line gave (``--engine auto`` measured once, on the client, at the workers' thread
  count); each task restores its file with a fresh view of it (:meth:`FramePipeline.fresh`: its
  own domain record). A worker restores one file at a time, its thread budget given to torch
  (a worker's threads share one network, whose tiled path keeps per-frame state in hooks, so
  two frames must not run through it at once);
- a worker that dies (killed, out of memory) has its files rescheduled on the others by
  the scheduler; a file that has killed ``distributed.scheduler.allowed-failures`` + 1
  workers is reported failed (dask's ``KilledWorker``), and the batch goes on;
- progress over the whole cluster (files done / total, ETA), a JSON-lines report (one
  line per file: input, output, status, seconds, worker, error; and, where the model
  records its training domain, frames and outside_domain) and a log file;
- each worker checks the frames it restores against the model's training domain, and the
  run warns once at the end, as a single-process ``midnet deblur`` does.

``local:N`` starts a ``LocalCluster`` of N worker processes on this machine, each with
``cores // N`` threads so that the workers together do not oversubscribe the cores; an
address joins an existing scheduler (dask-jobqueue on SLURM, dask-kubernetes, or
``dask scheduler`` / ``dask worker`` by hand: docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import weakref
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from ..images.batch import Job, Report, attempt, shown
from ..errors import MidnetError
from ..images.publish import remove_stale_temporaries
from ..inference.settings import RestoreSettings

PLUGIN = "midnet-restorer"  # the prefix of every plugin's name: midnet-restorer-<sha256 of its spec>
log = logging.getLogger("midnet.cluster.files")


@dataclass(frozen=True)
class RestorerSpec:
    """What every worker builds its frame pipeline from: the run's :class:`~midnet.inference.settings.RestoreSettings` (names
    and numbers, sent to the workers). A job planned with a before/after picture gets it from the pipeline's
    :meth:`~midnet.pipeline.FramePipeline.compare_writer`."""

    settings: RestoreSettings = field(default_factory=RestoreSettings)


def core_count() -> int:
    """Cores this process may use (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


MAX_LOCAL_WORKERS = 64  # stated maximum of local:N, below the cores: each worker holds its own network copy


def parse_local(spec: str) -> int:
    """N of ``local:N`` (``local`` alone: one worker per core): 1 to the cores (at most :data:`MAX_LOCAL_WORKERS`).

    N is plain ASCII digits without a leading zero: ``str.isdigit`` would let ``local:²`` through to int().
    """
    most = max(1, min(core_count(), MAX_LOCAL_WORKERS))
    head, colon, count = spec.partition(":")
    if head != "local" or (colon and not re.fullmatch(r"[1-9][0-9]{0,5}", count)):
        raise MidnetError(f"--cluster {spec!r}: give local:N with N from 1 to {most} (worker processes on this "
                          "machine), e.g. local:2; for a cluster of machines start a scheduler and give --scheduler ADDRESS")
    workers = int(count) if count else most
    if workers > most:
        raise MidnetError(f"--cluster {spec!r}: at most {most} workers here ({core_count()} cores"
                          f"{f', limit {MAX_LOCAL_WORKERS}' if core_count() > MAX_LOCAL_WORKERS else ''}); "
                          f"give local:{most} or fewer")
    return workers


def plugin_name(spec: RestorerSpec) -> str:
    """The worker plugin's name for ``spec``: another spec on the same scheduler gets another plugin."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)
    return f"{PLUGIN}-{hashlib.sha256(text.encode()).hexdigest()}"


class RestorerPlugin(WorkerPlugin):
    """Builds the frame pipeline once when a worker starts (and again in a restarted one); see the module docstring."""

    def __init__(self, spec: RestorerSpec, threads: int | None = None):
        self.spec = spec
        self.name = plugin_name(spec)
        self.threads = threads  # None: the worker's own thread count
        self.pipeline = None  # the FramePipeline each task takes a fresh view of
        self.lock = None

    def setup(self, worker) -> None:
        import torch

        from ..pipeline import FramePipeline

        torch.set_num_threads(max(1, self.threads or _worker_threads(worker)))
        self.pipeline = FramePipeline.build(self.spec.settings)
        self.lock = threading.Lock()

    @property
    def restorer(self):
        """The pipeline's restorer (None before :meth:`setup`): what a block-by-block plane runs through."""
        return self.pipeline.restorer if self.pipeline is not None else None

    def teardown(self, worker) -> None:
        self.pipeline = None


def _worker_threads(worker) -> int:
    state = getattr(worker, "state", None)
    return int(getattr(state, "nthreads", None) or getattr(worker, "nthreads", 1))


_REGISTERED: "weakref.WeakKeyDictionary[Any, dict[str, str]]" = weakref.WeakKeyDictionary()  # client: spec -> plugin


def ensure_plugin(client, spec: RestorerSpec) -> str:
    """Every worker of ``client`` (and every one that joins later) builds its restorer from ``spec``: the
    plugin's name, for the tasks. Registered once per client and spec (:func:`release_plugins` ends them)."""
    names = _REGISTERED.setdefault(client, {})
    asked = plugin_name(spec)
    if asked not in names:
        concrete = resolve_engine(spec, min(client.nthreads().values(), default=1))
        client.register_plugin(RestorerPlugin(concrete), name=plugin_name(concrete))
        names[asked] = plugin_name(concrete)
    return names[asked]


def release_plugins(client) -> None:
    """Unregister the restorers :func:`ensure_plugin` put on ``client``'s workers (the end of a run)."""
    for name in set(_REGISTERED.pop(client, {}).values()):
        try:
            client.unregister_worker_plugin(name)
        except Exception as exc:  # a scheduler gone or a worker leaving: nothing left to free there
            log.warning("could not unregister %s: %s", name, exc)


def resolve_engine(spec: RestorerSpec, threads: int) -> RestorerSpec:
    """``spec`` with ``--engine auto`` decided here, at ``threads`` torch threads (a worker's), once for all
    workers: they get a concrete engine and precision instead of each timing the engines at once."""
    if spec.settings.engine != "auto" or spec.settings.network is None:
        return spec
    import torch

    from ..inference.restore import make_restorer

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        settled = make_restorer(spec.settings).settings  # the one constructor, measuring (or reading) auto's choice
    finally:
        torch.set_num_threads(before)
    return dataclasses.replace(spec, settings=settled)


def worker_restorer(name: str | None = None) -> RestorerPlugin:
    """The plugin ``name`` (:func:`ensure_plugin`'s answer) of the worker this task runs on."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(name) if name else None
    if plugin is None or plugin.pipeline is None:
        raise MidnetError(f"worker {worker.address} has no midnet restorer; register RestorerPlugin first")
    return plugin


def restore_file(job: Job, overwrite: bool, output_is_input: bool, plugin: str | None = None) -> dict:
    """The task of one file, run on a worker with the frame pipeline of plugin ``plugin``: one report record."""
    from distributed import get_worker

    plugin = worker_restorer(plugin)
    pipeline = plugin.pipeline.fresh()  # the task reports its own frames
    inputs = {job.output.resolve()} if output_is_input else set()  # the client knows the batch's inputs
    with plugin.lock:
        start = time.perf_counter()
        status, why = pipeline.restore_file(job, overwrite, inputs)  # every output records how it was made
        seconds = time.perf_counter() - start
    line = record(job, status, why, seconds, get_worker().address)
    if pipeline.watch is not None and status == "restored":
        line.update(frames=pipeline.watch.seen, outside_domain=pipeline.watch.record())
    return line


def record(job: Job, status: str, why: str = "", seconds: float = 0.0, worker: str | None = None) -> dict:
    """One line of the --report file: ``error`` says why a file was skipped or failed (null when restored)."""
    return report_line(job.source, job.output, status, why, seconds, worker)


def report_line(source: Path, output: Path, status: str, why: str = "", seconds: float = 0.0,
                worker: str | None = None) -> dict:
    """A --report line for any input (a file, or a Zarr store or tiled TIFF restored block by block)."""
    return {"input": str(source), "output": str(output), "status": status, "seconds": round(seconds, 3),
            "worker": worker, "error": why or None}


@contextmanager
def dask_client(cluster: str | None = None, scheduler: str | None = None, quiet: bool = True):
    """A ``distributed.Client``: of a new LocalCluster (``local:N``) or of the scheduler at ``scheduler``.

    A LocalCluster gets ``cores // N`` threads per worker; it and its workers end with the block; on a
    scheduler's cluster, the restorers registered meanwhile (:func:`ensure_plugin`) are unregistered.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        with _scheduler_client(scheduler) as client:
            try:
                yield client
            finally:
                release_plugins(client)  # a shared scheduler: this run's restorers leave its workers
        return
    workers = parse_local(cluster or "local")
    threads = max(1, core_count() // workers)
    level = logging.ERROR if quiet else logging.WARNING
    with _quiet_shutdown(), LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                         dashboard_address=":0", silence_logs=level) as local, Client(local) as client:
        log.info("dask cluster: %d workers x %d threads; dashboard %s", workers, threads, client.dashboard_link)
        yield client


@contextmanager
def _scheduler_client(scheduler: str):
    """A Client of the scheduler at ``scheduler``, or one line saying why there is none."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout="30s")
    except OSError as exc:
        raise MidnetError(f"cannot reach the dask scheduler at {scheduler}: {exc}; is it running?") from exc
    except Exception as exc:  # dask read another protocol's bytes as a frame length: MemoryError of EiB, ValueError
        raise MidnetError(f"{scheduler}: something listens there but it is not a Dask scheduler (it does not speak "
                          f"Dask's protocol: {type(exc).__name__}); give the address `dask scheduler` prints, "
                          "e.g. tcp://HOST:8786") from exc
    with client:
        yield client


# What a LocalCluster's worker processes log when they stop with a task still running (a failed file's
# cancelled planes, an interrupted run): dask's own bookkeeping, not the run's; midnet says it in one line.
_WORKER_LOGGING = '{"distributed.worker.state_machine": "error"}'


class _BusyWorkersStopped(logging.Filter):
    """Drops the nanny's "Worker process still alive after N seconds, killing" lines, counting them."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "still alive after" in record.getMessage():
            self.count += 1
            return False
        return True


@contextmanager
def _quiet_shutdown():
    """A LocalCluster's shutdown in one line of midnet's instead of dask's tracebacks and "killing" lines.

    Worker processes read their logging levels when they start (spawned: from DASK_LOGGING in the
    environment they inherit), so it is set while the cluster lives; the nanny logs here, through a filter.
    """
    import sys

    nanny = logging.getLogger("distributed.nanny")
    stopped = _BusyWorkersStopped()
    nanny.addFilter(stopped)
    ours = "DASK_LOGGING" not in os.environ  # a user's own logging configuration is left as it is
    if ours:
        os.environ["DASK_LOGGING"] = _WORKER_LOGGING
    try:
        yield
    finally:
        nanny.removeFilter(stopped)
        if ours:
            os.environ.pop("DASK_LOGGING", None)
        if stopped.count:
            print(f"note: {stopped.count} dask worker process(es) still busy when the run ended were stopped",
                  file=sys.stderr)


def run_distributed(
    jobs: Sequence[Job],
    client,
    spec: RestorerSpec,
    overwrite: bool = False,
    report_file: "str | os.PathLike | _ReportWriter | None" = None,
    quiet: bool = False,
    task: Callable[..., dict] = restore_file,
    watch=None,
) -> Report:
    """Restore ``jobs`` with one task per file on ``client``'s cluster; the same Report as run_batch.

    ``watch`` (a DomainWatch) gathers the workers' checks of each frame against the model's training domain.

    ``task(job, overwrite, output_is_input, plugin=NAME)`` runs on the workers (:func:`restore_file`; a test may wrap
    it). Each finished file is written at once to ``report_file`` (JSON lines; a path, or the writer of
    :func:`open_report`) and logged.
    """
    report = Report()
    for folder in sorted({t.parent for job in jobs for t in (job.output, job.compare) if t is not None}):
        report.cleaned += remove_stale_temporaries(folder)  # those of dead runs on this host
    name = ensure_plugin(client, spec)
    inputs = {job.source.resolve() for job in jobs if job.skip is None}
    todo = [job for job in jobs if job.skip is None]
    with open_report(report_file) as out:
        for job in jobs:
            if job.skip is not None:  # midnet's own output among the inputs: as run_batch says it
                add_line(report, out, record(job, *attempt(job, None, overwrite, inputs)))
        futures = client.map(task, todo, [overwrite] * len(todo), [job.output.resolve() in inputs for job in todo],
                             plugin=name, pure=False)
        by_key = {f.key: job for f, job in zip(futures, todo)}
        for future in _progress(futures, quiet):
            add_line(report, out, _outcome(future, by_key[future.key]), watch)
    return report


def _outcome(future, job: Job) -> dict:
    """The task's record, or a failed one when the task could not run (a file that killed its workers)."""
    try:
        return future.result()
    except Exception as exc:
        return record(job, "failed", failure(job.source, exc))


def failure(source: Path, exc: BaseException) -> str:
    """One line saying why a task on ``source`` failed (a file, or a plane of a Zarr input)."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        why = (f"{shown(source)}: the workers restoring it died (killed, or out of memory) "
               "too many times; restore it alone, or with a smaller --tile")
    elif isinstance(exc, MidnetError) and str(source) in str(exc):
        why = str(exc)
    else:
        why = f"{shown(source)}: {type(exc).__name__}: {str(exc)[:300]}"
    return " ".join(why.split())


def _progress(futures: list, quiet: bool):
    """Futures as they finish, with a bar of files done / total and the ETA (tqdm) unless ``quiet``."""
    import sys

    from distributed import as_completed
    from tqdm import tqdm

    with tqdm(total=len(futures), desc="files", unit="file", file=sys.stderr, disable=True if quiet else None) as bar:
        for future in as_completed(futures):
            yield future
            bar.update(1)


def add_line(report: Report, out: "_ReportWriter", line: dict, watch=None) -> None:
    """Count a report line's outcome in ``report`` (and a worker's domain check in ``watch``), write it to the
    --report file and log it."""
    if watch is not None and "frames" in line:
        watch.add_file(line["frames"], line["outside_domain"])
    source = Path(line["input"])
    if line["status"] == "restored":
        report.restored.append(source)
    else:
        (report.skipped if line["status"] == "skipped" else report.failed).append((source, line["error"]))
    out.write(line)
    log.info("%s %s (%.1f s on %s)%s", line["status"], line["input"], line["seconds"], line["worker"] or "this process",
             f": {line['error']}" if line["error"] else "")


@contextmanager
def open_report(report_file: "str | os.PathLike | _ReportWriter | None"):
    """The --report writer of ``report_file`` (opened here and closed with the block), or the writer given:
    one report for a run's files and its Zarr inputs alike."""
    if isinstance(report_file, _ReportWriter):
        yield report_file
        return
    with _ReportWriter(report_file) as out:
        yield out


class _ReportWriter:
    """The --report file: one JSON object per line, flushed as each file finishes (a killed run keeps its lines)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.file = None

    def __enter__(self) -> "_ReportWriter":
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "w", encoding="utf-8")
            except OSError as exc:
                raise MidnetError(f"cannot write the report {self.path}: {exc.strerror}; choose another --report") from exc
        return self

    def write(self, line: dict) -> None:
        if self.file is not None:
            self.file.write(json.dumps(line) + "\n")
            self.file.flush()

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()


@contextmanager
def log_to_file(path: str | os.PathLike | None):
    """Append midnet's messages and dask's warnings to ``path`` while the block runs (``--log``: runs left alone).

    Two handlers on one file: a LocalCluster's ``silence_logs`` raises the level of dask's handlers only.
    """
    if not path:
        yield
        return
    added = []
    try:
        for name, level in (("midnet", logging.INFO), ("distributed", logging.WARNING)):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                handler = logging.FileHandler(path, encoding="utf-8")
            except OSError as exc:
                raise MidnetError(f"cannot write the log {path}: {exc.strerror}; choose another --log") from exc
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
            handler.setLevel(level)
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > level:
                logger.setLevel(level)
            logger.addHandler(handler)
            added.append((logger, handler))
        yield
    finally:
        for logger, handler in added:
            logger.removeHandler(handler)
            handler.close()
