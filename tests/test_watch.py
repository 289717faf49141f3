"""`edge serve --watch`: real server processes indexing a watched folder in the background, surviving kill -9."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import health, serving, wait_for

CLASSES = [{"name": "cat", "prompts": ["a cat", "kitten"]}]


@pytest.fixture
def folder(tmp_path) -> Path:
    """The watched folder; the server's home and log sit beside it (see watching)."""
    path = tmp_path / "watched"
    path.mkdir()
    return path


@contextmanager
def watching(folder: Path, cache: Path, *extra: str):
    """A server watching `folder` as index "demo", with its home and log beside the folder (the same on a restart);
    yields (process, base URL) once /health answers."""
    env = {"EDGE_HOME": str(folder.parent / "home"), "EDGE_CACHE_DIR": str(cache), "EDGE_API_KEYS": ""}
    with serving(env, folder.parent / "server.log", "--watch", f"demo={folder}", *extra) as running:
        yield running


def _drained(base: str, videos: int) -> bool:
    status = health(base)
    return bool(status) and status["videos"] == videos and status["queue"]["queued"] + status["queue"]["running"] == 0


def _events(log: Path, event: str) -> Counter:
    """How often the indexer logged `event` (indexed, unchanged, failed) per file path."""
    return Counter(re.findall(rf"event={event} n=\S+ path=(\S+)", log.read_text()))


def _job_states(db_path: Path) -> dict[str, int]:
    if not db_path.exists():
        return {}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # the server has not created its tables yet
        return {}
    finally:
        db.close()


def _listing(base: str) -> tuple[str, dict[str, str]]:
    indexes = httpx.get(f"{base}/v1.2/indexes", timeout=10).json()["data"]
    assert [i["index_name"] for i in indexes] == ["demo"]
    videos = httpx.get(f"{base}/v1.2/indexes/{indexes[0]['_id']}/videos", timeout=10).json()["data"]
    return indexes[0]["_id"], {v["metadata"]["filename"]: v["_id"] for v in videos}


def test_watched_folder_is_indexed_served_and_follows_deletions(models_dir, sample_dir, shared_cache, folder):
    log = folder.parent / "server.log"
    with watching(folder, shared_cache, "--poll-interval", "0.5", "--settle", "1") as (proc, base):
        for video in sample_dir.glob("*.mp4"):
            shutil.copy(video, folder / video.name)
        wait_for(lambda: _drained(base, 2), 120, proc, log)
        index_id, videos = _listing(base)
        assert set(videos) == {"cat_coffee.mp4", "rocket.mp4"}
        result = httpx.post(
            f"{base}/v1.2/classify",
            json={"video_ids": [videos["cat_coffee.mp4"]], "options": ["visual"], "classes": CLASSES},
            timeout=60,
        )
        assert result.status_code == 200, result.text
        assert [c["name"] for c in result.json()["data"][0]["classes"]] == ["cat"]
        text = log.read_text()
        assert text.count("event=queued") == 2 and text.count("event=indexed") == 2

        (folder / "rocket.mp4").unlink()
        wait_for(lambda: set(_listing(base)[1]) == {"cat_coffee.mp4"}, 30, proc, log)
        assert health(base)["videos"] == 1
        gone = httpx.post(
            f"{base}/v1.2/classify",
            json={"video_ids": [videos["rocket.mp4"]], "options": ["visual"], "classes": CLASSES},
            timeout=60,
        )
        assert gone.status_code == 404 and gone.json()["code"] == "resource_not_exist"


def test_kill_9_mid_index_then_restart_indexes_every_file_once(models_dir, sample_dir, shared_cache, folder):
    for video in sample_dir.glob("*.mp4"):
        for copy in range(2):  # trailing zero bytes: the same pictures, other content, so another video id
            (folder / f"{video.stem}_{copy}.mp4").write_bytes(video.read_bytes() + b"\0" * copy)
    paths = sorted(str(p.resolve()) for p in folder.iterdir())
    home, log = folder.parent / "home", folder.parent / "server.log"
    fast = ("--poll-interval", "0.2", "--settle", "0.2", "--ready-timeout", "0.5")
    with watching(folder, shared_cache, *fast) as (proc, base):
        # killed once a file is done and the next one is being indexed (its work not yet stored)
        wait_for(
            lambda: (jobs := _job_states(home / "edge.sqlite")).get("done", 0) >= 1 and jobs.get("running") == 1,
            120,
            proc,
            log,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    done_before_kill = _events(log, "indexed")
    assert 1 <= len(done_before_kill) < 4 and set(done_before_kill.values()) == {1}, log.read_text()

    with watching(folder, shared_cache, *fast) as (proc, base):
        # Work is left over (at most three of four videos were done): an unknown id waits, then hears why.
        early = httpx.post(
            f"{base}/v1.2/classify",
            json={"video_ids": ["0" * 24], "options": ["visual"], "classes": CLASSES},
            timeout=60,
        )
        assert early.status_code == 404 and "still in progress" in early.json()["message"], early.text
        wait_for(lambda: _drained(base, 4), 180, proc, log)
        assert len(_listing(base)[1]) == 4

    # Every file indexed exactly once over both runs (the log is shared): the ones finished before the kill are
    # not redone, not even looked at again, and the one killed mid-index is done in the second run.
    text = log.read_text()
    assert _events(log, "indexed") == Counter(paths), text
    assert not _events(log, "unchanged") and not _events(log, "failed"), text
    assert "event=requeued jobs=1" in text, text  # the one killed mid-index
    db = sqlite3.connect(home / "edge.sqlite")
    try:
        files = db.execute("SELECT path, status, video_id FROM files").fetchall()
        assert sorted(p for p, _, _ in files) == paths
        assert {s for _, s, _ in files} == {"indexed"}
        video_ids = [r[0] for r in db.execute("SELECT video_id FROM videos")]
        assert sorted(video_ids) == sorted(v for _, _, v in files) and len(set(video_ids)) == 4
        # the default sources: one row per video and source
        per_source = db.execute(
            "SELECT source, COUNT(*), COUNT(DISTINCT video_id) FROM segments GROUP BY source ORDER BY source"
        ).fetchall()
        assert per_source == [("conversation", 4, 4), ("text_in_video", 4, 4), ("visual", 4, 4)]
        assert db.execute("SELECT DISTINCT state FROM jobs").fetchall() == [("done",)]
    finally:
        db.close()


def test_file_still_being_written_waits_and_sigterm_stops_cleanly(models_dir, sample_dir, shared_cache, folder):
    log = folder.parent / "server.log"
    with watching(folder, shared_cache, "--poll-interval", "0.2", "--settle", "6") as (proc, base):
        data = (sample_dir / "rocket.mp4").read_bytes()
        growing = folder.resolve() / "growing.mp4"
        with growing.open("wb") as out:  # arrives in pieces, like a copy over the LAN
            for piece in range(6):
                out.write(data[piece * len(data) // 6 : (piece + 1) * len(data) // 6])
                out.flush()
                # The next piece comes only once the scanner has seen this one (and restarted its settle clock), so
                # every partial size is seen however slowly the loaded machine runs either side; then the partial
                # file stays still for 1 s (five polls, a sixth of the settle time): a watcher that queued files
                # without letting them settle would queue it now, and 5 s of slack keep a slow test from doing so.
                seen = f"event=settling path={growing} size={out.tell()}\n"
                wait_for(lambda: seen in log.read_text(), 60, proc, log)
                time.sleep(1)
        wait_for(lambda: _drained(base, 1), 120, proc, log)
        text = log.read_text()
        assert text.count("event=settling") >= 6 and "event=failed" not in text, text
        # queued once, complete, after the last piece was seen
        assert text.count("event=queued") == 1 and f"event=queued path={growing} size={len(data)}\n" in text, text
        assert text.index("event=queued") > text.index(seen) and _events(log, "indexed") == Counter([str(growing)])
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status names it
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    text = log.read_text()
    assert "event=watcher_stopped" in text and "Application shutdown complete" in text


def test_inotify_notices_a_new_file_long_before_the_next_poll(models_dir, sample_dir, shared_cache, folder):
    log = folder.parent / "server.log"
    with watching(folder, shared_cache, "--poll-interval", "600", "--settle", "0.5") as (proc, base):
        # past the start-up scan: from here on only a change notification can wake the scanner before 600 s
        wait_for(lambda: f"event=watching root={folder.resolve()} files=0\n" in log.read_text(), 60, proc, log)
        shutil.copy(sample_dir / "rocket.mp4", folder / "new.mp4")
        wait_for(lambda: _drained(base, 1), 60, proc, log)  # 60 s: a tenth of the poll interval
