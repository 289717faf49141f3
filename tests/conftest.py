"""Shared fixtures: the real model store, generated sample media, and an isolated EDGE_HOME per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from edge.config import load_settings

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
    """A fresh store per test; derived caches (label embeddings) are shared so they are computed once."""
    home = tmp_path / "home"
    monkeypatch.setenv("EDGE_HOME", str(home))
    monkeypatch.setenv("EDGE_CACHE_DIR", str(shared_cache))
    return home


def run_edge(*args: str, env: dict | None = None, stdin: str | None = None) -> tuple[int, dict | None, str]:
    """Run the real CLI in a subprocess; returns (exit code, parsed stdout JSON or None, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=stdin, timeout=900)
    try:
        payload = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        payload = None
    return proc.returncode, payload, proc.stderr
