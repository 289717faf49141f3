"""SQLite store mechanics and execution-provider choice, without models."""

import sqlite3
import time

import numpy as np
import onnxruntime as ort
import pytest

from edge.runtime import ProviderError, choose_providers
from edge.store import Store
from edge.types import Segments, VideoInfo

INFO = VideoInfo(duration=10.0, fps=25.0, width=640, height=360, rotation=0, has_audio=True)


def test_store_is_wal_and_round_trips_segments_as_float16(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    vectors = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    starts = np.arange(5, dtype=np.float32)
    store.put_video("v" * 24, "a.mp4", INFO, {("visual", "m1"): Segments(starts, starts + 1, vectors)})
    got = store.segments("v" * 24, "visual", "m1")
    assert got.vectors.dtype == np.float16
    np.testing.assert_allclose(got.vectors, vectors, atol=2e-3)
    np.testing.assert_array_equal(got.ends, starts + 1)
    assert store.segments("v" * 24, "visual", "other-model") is None
    assert sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_replacing_segments_is_atomic_per_video_and_source(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    one = Segments(np.zeros(1, np.float32), np.ones(1, np.float32), np.ones((1, 4), np.float32))
    store.put_video("v" * 24, "a.mp4", INFO, {("visual", "m"): one})
    two = Segments(np.zeros(2, np.float32), np.ones(2, np.float32), np.ones((2, 4), np.float32))
    store.put_video("v" * 24, "a.mp4", INFO, {("visual", "m"): two})
    assert len(store.segments("v" * 24, "visual", "m").starts) == 2
    assert len(store.videos()) == 1


def test_pages_expire(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put_pages([("live", {"data": [1]})], time.time() + 60)
    store.put_pages([("dead", {"data": [2]})], time.time() - 1)
    assert store.page("live") == {"data": [1]} and store.page("dead") is None and store.page("nope") is None


def test_indexes_group_folders(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    a = store.ensure_index("cams", "/srv/a")
    assert store.ensure_index("cams", "/srv/b") == a and len(a) == 24
    assert sorted(store.index_roots(a)) == ["/srv/a", "/srv/b"] and store.index_roots("missing") is None


def test_provider_preference_and_forcing():
    assert choose_providers()[-1] == "CPUExecutionProvider"
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ProviderError, match="unknown execution provider"):
        choose_providers("tpu")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ProviderError, match="not available"):
            choose_providers("cuda")


def test_identical_bytes_in_two_indexes_belong_to_both(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    vid = "v" * 24
    store.put_video(vid, "a.mp4", INFO, {})
    for root in ("/srv/a", "/srv/b"):
        store.record_file(f"{root}/clip.mp4", 10, 1, "indexed", vid)
    store.record_file("/srv/c/broken.mp4", 10, 1, "failed", error="bad")
    a, b = (store.ensure_index(name, f"/srv/{name}") for name in ("a", "b"))
    for index_id, root in ((a, "/srv/a"), (b, "/srv/b")):
        (video,) = store.videos(roots=store.index_roots(index_id))
        assert video.video_id == vid and video.path == f"{root}/clip.mp4"  # a path of the index it was asked for
    assert store.videos(roots=["/srv/c"]) == [] and store.videos(roots=["/srv/ab"]) == []
    assert [v.video_id for v in store.videos([vid], roots=["/srv/b"])] == [vid]
