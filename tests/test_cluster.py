"""`edge index --cluster` on a real local Ray cluster (2 CPUs, in this process), real models, generated videos."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import ray
from conftest import run_edge
from make_sample import write_zero_byte

from edge.types import VISUAL


@pytest.fixture(scope="module")
def cluster(shared_cache):
    """One Ray cluster for the module (it takes seconds to start); its workers share the label-embedding cache."""
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"EDGE_CACHE_DIR": str(shared_cache)}})
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def store(edge_home):
    from edge.store import Store

    return Store(edge_home / "cluster.sqlite")


@pytest.fixture(scope="module")
def local(models_dir, sample_dir, tmp_path_factory, shared_cache):
    """The sample indexed on this machine, as the reference the cluster must reproduce."""
    from edge.appliance import Edge
    from edge.settings import load_settings
    from edge.store import Store

    edge = Edge(replace(load_settings(), cache_dir=shared_cache, sources=(VISUAL,)))
    store = Store(tmp_path_factory.mktemp("local") / "edge.sqlite")
    report = edge.indexer(store=store).index([sample_dir])
    assert not report.failed
    return {
        "store": store,
        "bundle": edge.bundle,
        "ids": {e["path"].rsplit("/", 1)[1]: e["video_id"] for e in report.indexed},
    }


def _settings():
    from edge.settings import load_settings

    return load_settings()  # edge_home's EDGE_SOURCES=visual


def _same_segments(store, reference, video_id: str, key: str) -> None:
    mine, theirs = store.segments(video_id, VISUAL, key), reference.segments(video_id, VISUAL, key)
    assert mine is not None and theirs is not None
    for field in ("starts", "ends", "vectors"):
        assert np.array_equal(getattr(mine, field), getattr(theirs, field)), field


def test_the_cluster_stores_what_local_indexing_stores(cluster, local, sample_dir, store):
    from edge.classify import Classifier
    from edge.cluster import ClusterIndexer
    from edge.contract import parse_request

    with ClusterIndexer(store, _settings(), workers=2) as indexer:
        report = indexer.index([sample_dir])
        again = indexer.index([sample_dir])
    assert not report.failed and {e["video_id"] for e in report.indexed} == set(local["ids"].values())
    assert again.indexed == [] and len(again.unchanged) == 2  # the same idempotence rules as local indexing
    key = local["bundle"].key
    for video_id in local["ids"].values():
        _same_segments(store, local["store"], video_id, key)  # bit for bit
    assert [(v.video_id, v.path, v.info, v.size) for v in store.videos()] == [
        (v.video_id, v.path, v.info, v.size) for v in local["store"].videos()
    ]
    body = {
        "video_ids": sorted(local["ids"].values()),
        "options": [VISUAL],
        "include_clips": True,
        "classes": [{"name": "cat", "prompts": ["a cat"]}, {"name": "rocket", "prompts": ["a rocket"]}],
    }
    answers = [Classifier(s, local["bundle"]).classify(parse_request(body))["data"] for s in (store, local["store"])]
    assert answers[0] == answers[1] and answers[0]


def _killer(events: list[str], kill_when) -> callable:
    """A progress callback that records events and SIGKILLs the worker a dispatch names, 0.2 s into the file
    (the worker is then opening, decoding or encoding it: a sample video takes it 0.5 s or more; at 1 s the
    8 s rocket clip could already be done since the frame models' CPU copies)."""

    def progress(message: str) -> None:
        events.append(message)
        fields = dict(part.split("=", 1) for part in message.split() if "=" in part)
        if fields.get("event") == "dispatched" and kill_when(fields):
            pid = int(fields["worker"].rsplit(":", 1)[1])
            threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()

    return progress


def _count(events: list[str], event: str, name: str) -> int:
    return sum(f"event={event} " in e and e.split(" path=")[1].split()[0].endswith(name) for e in events)


def test_a_worker_killed_mid_file_loses_nothing(cluster, local, sample_dir, store, tmp_path):
    from edge.cluster import ClusterIndexer

    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("cat_coffee.mp4", "rocket.mp4"):
        shutil.copy(sample_dir / name, folder / name)
    write_zero_byte(folder / "empty.mp4")  # a broken file fails on the worker as it does locally
    events: list[str] = []
    # cat_coffee's worker is killed on the first try only; rocket's on every try
    kill = _killer(
        events,
        lambda f: f["path"].endswith("rocket.mp4") or (f["path"].endswith("cat_coffee.mp4") and f["attempt"] == "1"),
    )
    with ClusterIndexer(store, _settings(), workers=2, attempts=2, progress=kill) as indexer:
        report = indexer.index([folder])
    assert [e["path"].rsplit("/", 1)[1] for e in report.indexed] == ["cat_coffee.mp4"]
    assert _count(events, "dispatched", "cat_coffee.mp4") == 2 and _count(events, "worker_died", "cat_coffee.mp4") == 1
    assert _count(events, "indexed", "cat_coffee.mp4") == 1  # retried elsewhere, written exactly once
    video_id = local["ids"]["cat_coffee.mp4"]
    assert [v.video_id for v in store.videos()] == [video_id]
    _same_segments(store, local["store"], video_id, local["bundle"].key)
    # after `attempts` deaths a file is reported failed like a local failure, in the report and the store
    errors = {f["path"].rsplit("/", 1)[1]: f["error"] for f in report.failed}
    assert set(errors) == {"empty.mp4", "rocket.mp4"} and "0 bytes" in errors["empty.mp4"]
    assert "died on each of 2 attempts" in errors["rocket.mp4"]
    assert _count(events, "dispatched", "rocket.mp4") == 2 and _count(events, "dispatched", "empty.mp4") == 1
    assert sorted(p.rsplit("/", 1)[1] for p, _ in store.failed_files()) == ["empty.mp4", "rocket.mp4"]


def _linked_store(models_dir, tmp_path):
    """A copy of the verified store made of links to its files (nothing in the real store is ever changed)."""
    copy = tmp_path / "models"
    for path in models_dir.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(models_dir)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(models_dir)).symlink_to(path)
    return copy


def test_a_worker_with_a_wrong_model_store_refuses_and_says_why(cluster, models_dir, sample_dir, store, tmp_path):
    from edge.cluster import ClusterIndexer, WorkersRefused

    tampered = _linked_store(models_dir, tmp_path / "tampered")
    labels = tampered / "image-efficientnet-lite3" / "labels.txt"
    text = labels.read_text()
    labels.unlink()
    labels.write_text(text.replace("tabby", "tabby cat", 1))
    with ClusterIndexer(store, _settings(), workers=1, worker_models=str(tampered)) as indexer:
        with pytest.raises(WorkersRefused) as refused:
            indexer.index([sample_dir])
    assert "image-efficientnet-lite3/labels.txt" in str(refused.value) and "sha256" in str(refused.value)

    # A store that verifies on its own but is not the driver's: another tf2onnx conversion (not byte-reproducible)
    # of the same model, pinned by its own lock.
    other = _linked_store(models_dir, tmp_path / "other")
    converted = "image-efficientnet-lite3/model.onnx"
    data = (other / converted).read_bytes() + b"\0"
    (other / converted).unlink()
    (other / converted).write_bytes(data)
    lock_path = other / "installed.json"
    lock = json.loads(lock_path.read_text())
    lock["files"][converted]["sha256"] = hashlib.sha256(data).hexdigest()
    lock_path.unlink()
    lock_path.write_text(json.dumps(lock))
    with ClusterIndexer(store, _settings(), workers=1, worker_models=str(other)) as indexer:
        with pytest.raises(WorkersRefused) as refused:
            indexer.index([sample_dir])
    assert "differs from the driver's" in str(refused.value) and converted in str(refused.value)
    assert store.videos() == []


def test_an_interrupted_driver_resumes_without_redoing_finished_files(cluster, sample_dir, edge_home, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("cat_coffee.mp4", "rocket.mp4"):
        shutil.copy(sample_dir / name, folder / name)
    command = [sys.executable, "-m", "edge", "index", str(folder), "--cluster", cluster, "--workers", "1"]
    log = tmp_path / "first.log"
    with log.open("w") as err:
        driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=os.environ.copy())
    deadline = time.monotonic() + 300
    while "event=indexed" not in log.read_text():
        assert driver.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)  # no chance to clean up: its actors die with it
    driver.wait()
    first = [line for line in log.read_text().splitlines() if "event=indexed" in line]
    assert len(first) == 1 and "cat_coffee.mp4" in first[0]
    code, report, err = run_edge("index", str(folder), "--cluster", cluster, "--workers", "1")
    assert code == 0, err
    assert [e["path"].rsplit("/", 1)[1] for e in report["unchanged"]] == ["cat_coffee.mp4"]
    assert [e["path"].rsplit("/", 1)[1] for e in report["indexed"]] == ["rocket.mp4"]
    code, listing, _ = run_edge("videos")
    assert len(listing["videos"]) == 2 and listing["failed"] == []


def test_workers_are_planned_per_gpu_or_per_two_cpus():
    from edge.cluster import plan_workers

    assert plan_workers({"CPU": 16.0}, None) == (8, {"num_cpus": 1, "max_restarts": -1, "max_task_retries": 0})
    count, options = plan_workers({"CPU": 64.0, "GPU": 4.0}, None)
    assert count == 4 and options["num_gpus"] == 1  # GPU actors where the cluster has GPUs
    assert plan_workers({"CPU": 2.0}, 5)[0] == 2  # never more than the cluster can place
    assert plan_workers({"CPU": 1.0}, None)[0] == 1


def test_local_indexing_never_imports_ray(models_dir, sample_dir, edge_home):
    import edge

    script = (
        "import pkgutil, importlib, sys\n"
        "import edge\n"
        "for m in pkgutil.walk_packages(edge.__path__, 'edge.'):\n"
        "    if m.name not in ('edge.cluster', 'edge.__main__'): importlib.import_module(m.name)\n"
        "from edge.shell.cli import main\n"
        f"try: main(['index', {str(sample_dir / 'rocket.mp4')!r}])\n"
        "except SystemExit as exit: assert exit.code in (0, None), exit.code\n"
        "assert 'ray' not in sys.modules, 'local indexing imported ray'\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=os.path.dirname(os.path.dirname(edge.__file__)),
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr
    assert "event=indexed" in proc.stderr
