"""Indexing on a Ray cluster (`edge index --cluster ADDRESS`): this process plans and writes, Ray actors extract.

The driver lists the files by the local rules and skips unchanged ones (IndexWriter.plan), hands one whole file
at a time to a pool of actors that each load the models once (Extractor), and writes every Extraction that comes
back with the same IndexWriter as local indexing, one file per transaction, so the store, classify and the HTTP
API cannot tell the difference. Files are written as they finish: a driver interrupted and started again skips
them.

A worker checks its model store by sha256 before it loads anything, and compares it with the driver's; a worker
whose store is broken or differs refuses, saying why, and gets no work. A worker that dies mid-file loses
nothing: nothing was written for it, the actor is restarted, and the file goes to another worker, at most
`attempts` times in all, after which it is reported failed like a local failure.

Only `--cluster` imports this module: local indexing never imports Ray.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import ray
from ray.exceptions import ActorDiedError, RayActorError, RayError

from edge.hashing import IntegrityError
from edge.indexer import Extractor, IndexReport, IndexWriter, check_sources, discover
from edge.modelfiles import expected_sha256, load_manifest, model_path, read_lock
from edge.settings import Settings, load_settings
from edge.store import Store

log = logging.getLogger("edge.cluster")


class ClusterError(RuntimeError):
    """No Ray cluster at the address."""


class WorkersRefused(ClusterError):
    """Every worker refused to work (model store broken or different, models that do not load)."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker's results depend on, as the driver has it."""

    sources: tuple[str, ...]
    sample_fps: float
    visual_bundle: str
    threads: int
    store: dict[str, str]  # the driver's verified model store: file -> sha256
    models_dir: str | None  # the store's path on the workers; None: each worker's own EDGE_MODELS_DIR


def store_fingerprint(models_dir: Path) -> dict[str, str]:
    """file -> sha256 of every file of a model store, each verified first (IntegrityError names a bad one; the
    models loaded afterwards are not hashed again)."""
    manifest, lock = load_manifest(), read_lock(models_dir)
    fingerprint = {}
    for model in manifest["models"]:
        for entry in model["files"]:
            model_path(models_dir, model["name"], entry["name"])
            rel = f"{model['name']}/{entry['name']}"
            fingerprint[rel] = expected_sha256(manifest, lock, model, entry, rel, models_dir)
    return fingerprint


def check_store(models_dir: Path, expected: dict[str, str]) -> None:
    """The worker's store must verify and hold exactly the driver's files: vectors from other bytes would be
    stored under the same model keys and compared with the driver's."""
    mine = store_fingerprint(models_dir)
    differ = sorted(f for f in expected.keys() | mine.keys() if expected.get(f) != mine.get(f))
    if differ:
        raise IntegrityError(
            f"model store at {models_dir} differs from the driver's: "
            + "; ".join(f"{f} has sha256 {mine.get(f)}, the driver's {expected.get(f)}" for f in differ)
        )


class IndexWorker:
    """A Ray actor: verifies its model store, loads the models once, then extracts one file per call."""

    def __init__(self, spec: WorkerSpec):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.sources, self.keys, self.refusal = spec.sources, {}, None
        try:
            settings = replace(
                load_settings(),
                sources=spec.sources,
                sample_fps=spec.sample_fps,
                visual_bundle=spec.visual_bundle,
                threads=spec.threads,
            )
            if spec.models_dir:
                settings = replace(settings, models_dir=Path(spec.models_dir))
            check_store(settings.models_dir, spec.store)
            self.extractor = _extractor(settings)
            self.keys = {s: self.extractor.key(s) for s in spec.sources}
        except Exception as exc:  # reported to the driver by ready(); this worker takes no file
            self.refusal = f"{type(exc).__name__}: {exc}"
            log.error("event=worker_refused worker=%s reason=%r", self.name, self.refusal)

    def ready(self) -> dict:
        return {"worker": self.name, "pid": os.getpid(), "refusal": self.refusal, "keys": self.keys}

    def extract(self, path: str, size: int, mtime_ns: int, stored: set[tuple[str, str]]) -> tuple[str, object]:
        """("done", Extraction), ("failed", why) for a file that cannot be indexed, or ("refused", why)."""
        if self.refusal:
            return "refused", self.refusal
        try:
            stat = os.stat(path)
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
                return "failed", (
                    f"the file changed after it was listed, or worker {self.name} sees another "
                    f"file at this path ({stat.st_size} bytes, the driver saw {size})"
                )
            missing = lambda video_id: [s for s in self.sources if (video_id, s) not in stored]  # noqa: E731
            return "done", self.extractor.extract(Path(path), missing)
        except Exception as exc:  # a broken file: reported like a local failure, the worker goes on
            return "failed", str(exc) or type(exc).__name__


def _extractor(settings: Settings) -> Extractor:
    from edge.appliance import Edge

    edge = Edge(settings)
    edge.load()
    return edge.extractor(progress=log.info)


def connect(address: str) -> None:
    """Join the Ray cluster at `address` ("auto": the one running on this machine; "ray://host:port")."""
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ClusterError(f"no Ray cluster at {address!r}: {exc}") from exc


def plan_workers(resources: dict, wanted: int | None) -> tuple[int, dict]:
    """How many actors to start on a cluster with these resources, and their Ray options. A file keeps about two
    cores busy (decoder thread + models), so by default one worker per 2 CPUs; with GPUs, one per GPU. Never more
    than the cluster can place (an actor that cannot be placed would wait forever)."""
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    count = min(wanted or gpus or max(1, cpus // 2), max(gpus or cpus, 1))
    options = {"num_cpus": 1, "max_restarts": -1, "max_task_retries": 0, **({"num_gpus": 1} if gpus else {})}
    return count, options


@dataclass
class _Job:
    path: Path
    stat: os.stat_result
    position: str
    attempts: int = 0
    died_on: set = field(default_factory=set)  # actors it was on when they died


class ClusterIndexer:
    """Indexes like edge.library.Indexer, with the extraction on a pool of Ray actors (connect first)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        workers: int | None = None,
        attempts: int = 3,
        worker_models: str | None = None,
        progress: Callable[[str], None] = lambda m: log.info(m),
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.store, self.settings, self.attempts, self.progress = store, settings, attempts, progress
        self.sources = check_sources(settings.sources, True)
        self.spec = WorkerSpec(
            self.sources,
            settings.sample_fps,
            settings.visual_bundle,
            settings.threads,
            store_fingerprint(settings.models_dir),
            worker_models,
        )
        self.workers, self.keys = self._start(workers), None
        self._idle: deque = deque()
        self._probing: dict = {}  # ready() calls in flight -> actor: workers starting or restarting

    def _start(self, wanted: int | None) -> dict:
        resources = ray.cluster_resources()
        count, options = plan_workers(resources, wanted)
        cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        if wanted and wanted > count:
            self.progress(f"event=workers_limited wanted={wanted} started={count} cluster_cpus={cpus} gpus={gpus}")
        self.progress(f"event=workers_starting count={count} cluster_cpus={cpus} gpus={gpus}")
        actor_class = ray.remote(IndexWorker).options(**options)
        return {actor_class.remote(self.spec): None for _ in range(count)}

    def close(self) -> None:
        for actor in self.workers:
            ray.kill(actor)
        self.workers = {}

    def __enter__(self) -> ClusterIndexer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, every: bool = False) -> None:
        """Block until a first worker is ready (its model keys become the run's), or with `every` until all have
        answered; WorkersRefused if all refuse. The others join while files are indexed."""
        if self.keys is None and not self._probing:
            self._probing.update({actor.ready.remote(): actor for actor in self.workers})
        refusals = []
        while self._probing and (self.keys is None or every):
            refusals += self._settle_probe(ray.wait(list(self._probing), num_returns=1)[0][0])
        if self.keys is None:
            raise WorkersRefused("no worker can index: " + "; ".join(refusals))

    def _settle_probe(self, ref) -> list[str]:
        """A worker answered ready() (or died starting): it joins the idle pool, or leaves saying why."""
        actor = self._probing.pop(ref)
        try:
            info = ray.get(ref)
        except ActorDiedError as exc:
            return self._drop(actor, f"died: {exc}")
        except RayActorError:  # restarting: ask again
            self._probing[actor.ready.remote()] = actor
            return []
        self.workers[actor] = info["worker"]
        if info["refusal"] is None and self.keys is None:
            self.keys = info["keys"]
            self.progress(f"event=model_keys {' '.join(f'{s}={k}' for s, k in self.keys.items())}")
        if info["refusal"] is None and info["keys"] != self.keys:
            info["refusal"] = f"its model keys {info['keys']} differ from the other workers' {self.keys}"
        if info["refusal"]:
            return self._drop(actor, info["refusal"])
        self.progress(f"event=worker_ready worker={info['worker']}")
        self._idle.append(actor)
        return []

    def _drop(self, actor, reason: str) -> list[str]:
        name = self.workers.pop(actor, None) or "starting"
        self.progress(f"event=worker_refused worker={name} reason={reason!r}")
        ray.kill(actor)
        return [f"worker {name}: {reason}"]

    def index(self, paths: list[Path]) -> IndexReport:
        self.wait_ready()
        writer = IndexWriter(self.store, self.sources, self.keys.__getitem__, self.progress)
        report, jobs = IndexReport(), deque()
        candidates = list(discover(paths))
        for n, path in enumerate(candidates, 1):
            position = f"{n}/{len(candidates)}"
            try:
                if (stat := writer.plan(path, report, position)) is not None:
                    jobs.append(_Job(path, stat, position))
            except Exception as exc:
                writer.fail(path, str(exc) or type(exc).__name__, report, position)
        if jobs:
            self._run(jobs, writer, report, ray.put(self.store.stored_sources(self.keys)))
        return report

    def _run(self, jobs: deque, writer: IndexWriter, report: IndexReport, stored) -> None:
        running: dict = {}  # extract() calls in flight -> (job, actor)
        while jobs or running:
            while self._idle and jobs:
                job = jobs.popleft()
                actor = self._pick(job.died_on)
                job.attempts += 1
                running[actor.extract.remote(str(job.path), job.stat.st_size, job.stat.st_mtime_ns, stored)] = (
                    job,
                    actor,
                )
                self.progress(
                    f"event=dispatched n={job.position} path={job.path} worker={self.workers[actor]} "
                    f"attempt={job.attempts}"
                )
            if not running and not self._probing:
                for job in jobs:
                    writer.fail(job.path, "no worker left to index it (all refused or died)", report, job.position)
                return
            ref = ray.wait([*running, *self._probing], num_returns=1)[0][0]
            if ref in self._probing:
                self._settle_probe(ref)
            else:
                self._settle_job(ref, *running.pop(ref), jobs, writer, report)

    def _pick(self, avoid: set):
        """An idle worker, preferring one the job has not died on."""
        for actor in self._idle:
            if actor not in avoid:
                self._idle.remove(actor)
                return actor
        return self._idle.popleft()

    def _settle_job(self, ref, job: _Job, actor, jobs: deque, writer: IndexWriter, report: IndexReport) -> None:
        name = self.workers[actor]
        try:
            status, value = ray.get(ref)
        except RayError as exc:  # the worker died mid-file: nothing was written; Ray restarts the actor
            self.progress(
                f"event=worker_died path={job.path} worker={name} attempt={job.attempts} error={type(exc).__name__}"
            )
            self._probing[actor.ready.remote()] = actor  # it takes work again once restarted and verified
            if job.attempts >= self.attempts:
                writer.fail(
                    job.path,
                    f"the worker died on each of {job.attempts} attempts (last: {type(exc).__name__} on {name})",
                    report,
                    job.position,
                )
            else:
                job.died_on.add(actor)
                jobs.appendleft(job)
            return
        if status == "refused":  # a restarted worker whose store no longer verifies
            self._drop(actor, value)
            job.attempts -= 1
            jobs.appendleft(job)
            return
        self._idle.append(actor)
        try:
            if status == "failed":
                writer.fail(job.path, value, report, job.position)
            else:
                writer.write(job.path, job.stat, value, report, job.position, f" worker={name} attempt={job.attempts}")
        except Exception as exc:
            writer.fail(job.path, str(exc) or type(exc).__name__, report, job.position)


def index_on_cluster(store: Store, settings: Settings, paths: list[Path], address: str, **options) -> IndexReport:
    """`edge index --cluster`: connect, start the workers, index, stop them (the cluster stays up)."""
    connect(address)
    with ClusterIndexer(store, settings, progress=lambda m: log.info(m), **options) as indexer:
        return indexer.index(paths)
