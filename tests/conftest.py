"""Shared fixtures: the real model store, generated sample media, and an isolated EDGE_HOME per test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from edge.settings import load_settings

    path = load_settings().models_dir
    if not (path / "installed.json").is_file():
        pytest.fail(f"no model store at {path}: run `make models` (the test target does) first")
    return path


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    from make_sample import make_sample

    out = tmp_path_factory.mktemp("sample")
    make_sample(out)
    return out


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def edge_home(tmp_path, monkeypatch, shared_cache) -> Path:
    """A fresh store per test; derived caches (label embeddings) are shared so they are computed once.
    Indexing extracts the visual source only unless a test asks for more: OCR and speech have tests of
    their own, and the visual tests index the same sample many times."""
    home = tmp_path / "home"
    monkeypatch.setenv("EDGE_HOME", str(home))
    monkeypatch.setenv("EDGE_SOURCES", "visual")
    monkeypatch.setenv("EDGE_CACHE_DIR", str(shared_cache))
    return home


def run_edge(*args: str, env: dict | None = None, stdin: str | None = None) -> tuple[int, dict | None, str]:
    """Run the real CLI in a subprocess; returns (exit code, parsed stdout JSON or None, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=900,
    )
    try:
        payload = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        payload = None
    return proc.returncode, payload, proc.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(base: str) -> dict | None:
    import httpx

    try:
        reply = httpx.get(f"{base}/health", timeout=2)
        return reply.json() if reply.status_code == 200 else None
    except httpx.TransportError:
        return None


def wait_for(condition, timeout_s: float, proc: subprocess.Popen, log: Path) -> None:
    """Poll `condition` until true; fail with the server's log if it died or the time ran out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@contextmanager
def serving(env: dict, log: Path, *args: str):
    """A real `edge serve` on a free loopback port; yields (process, base URL) once /health answers."""
    port = free_port()
    with log.open("a") as out:  # a file, not a pipe: nobody drains a pipe while a test waits, and a full one blocks
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: health(base) is not None, 120, proc, log)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def index_with_sources(folder: Path, home: Path, sources: tuple[str, ...]) -> dict:
    """Index a folder into a store under `home` with the real models of these sources; what tests need of it."""
    from edge.appliance import Edge
    from edge.settings import load_settings
    from edge.store import Store

    edge = Edge(load_settings())
    store = Store(home / "edge.sqlite")
    report = edge.indexer(store=store, sources=sources).index([folder])
    assert not report.failed, report.failed
    return {
        "store": store,
        "edge": edge,
        "text": edge.text,
        "settings": edge.settings,
        "folder": folder,
        "ids": {e["path"].rsplit("/", 1)[1]: e["video_id"] for e in report.indexed},
        "env": {"EDGE_HOME": str(home), "EDGE_SOURCES": ",".join(sources)},
    }  # for the CLI on the same store


def classify_indexed(
    indexed: dict, videos: list[str], source: str, classes: list[dict], option: str = "semantic", **threshold
) -> dict:
    """A classify response (with clips; low class thresholds, so clips are what the tests judge)."""
    from edge.classify import Classifier
    from edge.contract import parse_request

    body = {
        "video_ids": [indexed["ids"][v] for v in videos],
        "options": [source],
        "conversation_option": option,
        "classes": classes,
        "include_clips": True,
        "threshold": {"min_video_score": 1, "min_duration_ratio": 0.01, **threshold},
    }
    edge = indexed["edge"]
    classifier = Classifier(indexed["store"], edge.bundle, text=edge.text)
    return classifier.classify(parse_request(body))


SAMPLE_KEY = "test-key"


@pytest.fixture(scope="session")
def sample_server(models_dir, sample_dir, shared_cache, tmp_path_factory):
    """The sample indexed with every source by the real CLI, served by one real `edge serve` (key SAMPLE_KEY) for
    the whole session: the HTTP and OpenAPI tests share it. Yields base URL, index id and {filename: video id}."""
    from edge.types import SOURCES

    env = {
        "EDGE_HOME": str(tmp_path_factory.mktemp("serve-home")),
        "EDGE_CACHE_DIR": str(shared_cache),
        "EDGE_API_KEYS": "",
        "EDGE_SOURCES": ",".join(SOURCES),
        "EDGE_RATE_LIMIT": "",
    }
    code, report, err = run_edge("index", str(sample_dir), "--name", "demo", env=env)
    assert code == 0, err
    with serving(env, tmp_path_factory.mktemp("serve-log") / "server.log", "--api-key", SAMPLE_KEY) as (_, base):
        yield {
            "base": base,
            "index_id": report["indexes"][0]["index_id"],
            "key": SAMPLE_KEY,
            "videos": {r["path"].rsplit("/", 1)[-1]: r["video_id"] for r in report["indexed"]},
        }
