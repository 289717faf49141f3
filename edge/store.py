"""SQLite (WAL) store: registered files and videos, timed segments with float16 vectors, result pages."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.types import Segments, TimedItems, VideoInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
  video_id TEXT PRIMARY KEY, filename TEXT NOT NULL, duration REAL NOT NULL, fps REAL, width INTEGER,
  height INTEGER, rotation INTEGER, has_audio INTEGER, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY, video_id TEXT, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  status TEXT NOT NULL, error TEXT, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS files_video ON files(video_id);
-- one row per video, evidence source and model: times, texts and vectors of all its segments
CREATE TABLE IF NOT EXISTS segments (
  video_id TEXT NOT NULL, source TEXT NOT NULL, model_key TEXT NOT NULL, count INTEGER NOT NULL,
  starts BLOB NOT NULL, ends BLOB NOT NULL, texts TEXT, dim INTEGER NOT NULL, vectors BLOB NOT NULL,
  PRIMARY KEY (video_id, source, model_key));
-- what was read or heard, item by item (spoken words, on-screen text spans), for exact matching and inspection
CREATE TABLE IF NOT EXISTS timed_text (
  video_id TEXT NOT NULL, source TEXT NOT NULL, model_key TEXT NOT NULL, language TEXT, items TEXT NOT NULL,
  PRIMARY KEY (video_id, source, model_key));
CREATE TABLE IF NOT EXISTS indexes (index_id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS index_roots (index_id TEXT NOT NULL, root TEXT NOT NULL, PRIMARY KEY (index_id, root));
-- durable work queue of watched folders (edge.watch): a path is queued, running, done or failed
CREATE TABLE IF NOT EXISTS jobs (
  path TEXT PRIMARY KEY, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS result_pages (
  token TEXT PRIMARY KEY, body TEXT NOT NULL, expires_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class FileRow:
    video_id: str | None  # None for a file that failed
    size: int
    mtime_ns: int
    status: str  # indexed | failed


@dataclass(frozen=True)
class VideoRow:
    video_id: str
    filename: str
    path: str | None  # one current path of the content (None while no file points at it)
    info: VideoInfo
    size: int  # bytes of the content
    created_at: float

    @property
    def duration(self) -> float:
        return self.info.duration


@dataclass(frozen=True)
class IndexRow:
    index_id: str
    name: str
    roots: list[str]
    created_at: float


class Store:
    def __init__(self, path: Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _tx(self):
        return _Transaction(self._db)

    # files and videos
    def file_row(self, path: str) -> FileRow | None:
        row = self._db.execute("SELECT video_id, size, mtime_ns, status FROM files WHERE path=?", (path,)).fetchone()
        return FileRow(*row) if row else None

    def record_file(
        self, path: str, size: int, mtime_ns: int, status: str, video_id: str | None = None, error: str | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO files(path, video_id, size, mtime_ns, status, error, updated_at) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT(path) DO UPDATE SET video_id=excluded.video_id, size=excluded.size, "
            "mtime_ns=excluded.mtime_ns, status=excluded.status, error=excluded.error, updated_at=excluded.updated_at",
            (path, video_id, size, mtime_ns, status, error, time.time()),
        )

    def drop_unreferenced_videos(self) -> None:
        """Videos no file points at any more (a file changed and got a new id) go, with their segments."""
        with self._tx() as db:
            orphan = "SELECT video_id FROM videos WHERE video_id NOT IN (SELECT video_id FROM files WHERE video_id IS NOT NULL)"
            db.execute(f"DELETE FROM segments WHERE video_id IN ({orphan})")
            db.execute(f"DELETE FROM timed_text WHERE video_id IN ({orphan})")
            db.execute(f"DELETE FROM videos WHERE video_id IN ({orphan})")

    def put_video(
        self,
        video_id: str,
        filename: str,
        info: VideoInfo,
        segments: dict[tuple[str, str], Segments],
        timed_text: dict[tuple[str, str], TimedItems] | None = None,
    ) -> None:
        """Register a video and replace its segments (and timed text) for the given (source, model_key)
        pairs atomically."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO videos VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(video_id) DO UPDATE SET "
                "filename=excluded.filename, duration=excluded.duration, fps=excluded.fps, width=excluded.width, "
                "height=excluded.height, rotation=excluded.rotation, has_audio=excluded.has_audio",
                (
                    video_id,
                    filename,
                    info.duration,
                    info.fps,
                    info.width,
                    info.height,
                    info.rotation,
                    int(info.has_audio),
                    time.time(),
                ),
            )
            for (source, model_key), seg in segments.items():
                db.execute(
                    "INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        video_id,
                        source,
                        model_key,
                        len(seg.starts),
                        seg.starts.astype(np.float32).tobytes(),
                        seg.ends.astype(np.float32).tobytes(),
                        json.dumps(seg.texts) if seg.texts is not None else None,
                        int(seg.vectors.shape[1]),
                        np.ascontiguousarray(seg.vectors, dtype=np.float16).tobytes(),
                    ),
                )
            for (source, model_key), timed in (timed_text or {}).items():
                db.execute(
                    "INSERT OR REPLACE INTO timed_text VALUES (?,?,?,?,?)",
                    (video_id, source, model_key, timed.language, json.dumps(timed.items)),
                )

    def has_segments(self, video_id: str, source: str, model_key: str) -> bool:
        return (
            self._db.execute(
                "SELECT 1 FROM segments WHERE video_id=? AND source=? AND model_key=?", (video_id, source, model_key)
            ).fetchone()
            is not None
        )

    def stored_sources(self, keys: dict[str, str]) -> set[tuple[str, str]]:
        """(video_id, source) of every video holding segments of that source under its current model key."""
        rows = self._db.execute("SELECT video_id, source, model_key FROM segments").fetchall()
        return {(video_id, source) for video_id, source, key in rows if keys.get(source) == key}

    def segments(self, video_id: str, source: str, model_key: str) -> Segments | None:
        row = self._db.execute(
            "SELECT count, starts, ends, texts, dim, vectors FROM segments WHERE video_id=? AND source=? AND model_key=?",
            (video_id, source, model_key),
        ).fetchone()
        if row is None:
            return None
        count, starts, ends, texts, dim, vectors = row
        return Segments(
            np.frombuffer(starts, np.float32),
            np.frombuffer(ends, np.float32),
            np.frombuffer(vectors, np.float16).reshape(count, dim),
            json.loads(texts) if texts else None,
        )

    def evidence(self, video_id: str) -> dict[str, dict]:
        """What a video is indexed for: {source: {"model_key", "segments"[, "language"]}}."""
        rows = self._db.execute(
            "SELECT s.source, s.model_key, s.count, t.language FROM segments s LEFT JOIN timed_text t ON "
            "t.video_id=s.video_id AND t.source=s.source AND t.model_key=s.model_key WHERE s.video_id=? "
            "ORDER BY s.source",
            (video_id,),
        ).fetchall()
        return {
            source: {"model_key": key, "segments": count, **({"language": lang} if lang else {})}
            for source, key, count, lang in rows
        }

    def timed_text(self, video_id: str, source: str, model_key: str) -> TimedItems | None:
        row = self._db.execute(
            "SELECT language, items FROM timed_text WHERE video_id=? AND source=? AND model_key=?",
            (video_id, source, model_key),
        ).fetchone()
        return TimedItems(row[0], json.loads(row[1])) if row else None

    def videos(self, video_ids: list[str] | None = None, roots: list[str] | None = None) -> list[VideoRow]:
        """Registered videos (one row per video), optionally only those named or those with a file under `roots`.

        Identical bytes at several paths are one video: it belongs to every index one of its files is under, and
        its `path` is a current file of it (under `roots` when they are given)."""
        conditions, args = ["f.status='indexed'"], []
        if roots is not None:
            prefixes = [r.rstrip("/") + "/" for r in roots]
            if not prefixes:
                return []
            conditions.append("(" + " OR ".join("substr(f.path, 1, ?)=?" for _ in prefixes) + ")")
            args += [a for p in prefixes for a in (len(p), p)]
        path_query = (
            f"SELECT path FROM files f WHERE f.video_id=v.video_id AND {' AND '.join(conditions)} ORDER BY path LIMIT 1"
        )
        where = f"WHERE ({path_query}) IS NOT NULL" if roots is not None else ""
        if video_ids is not None:  # in SQL: a request names a few videos of a library of thousands
            where = (where + " AND " if where else "WHERE ") + f"v.video_id IN ({','.join('?' * len(video_ids))})"
        rows = self._db.execute(
            "SELECT v.video_id, v.filename, v.duration, v.fps, v.width, v.height, v.rotation, v.has_audio, "
            f"({path_query}), (SELECT size FROM files f WHERE f.video_id=v.video_id LIMIT 1), v.created_at "
            f"FROM videos v {where} ORDER BY v.filename, v.video_id",
            args + (args if roots is not None else []) + list(video_ids or []),
        ).fetchall()
        return [
            VideoRow(row[0], row[1], row[8], VideoInfo(*row[2:7], bool(row[7])), row[9] or 0, row[10]) for row in rows
        ]

    def video_files(self, video_id: str) -> list[tuple[str, int, int]]:
        """(path, size, mtime_ns) of every file indexed as this video (the same bytes may live at several paths)."""
        return self._db.execute(
            "SELECT path, size, mtime_ns FROM files WHERE video_id=? AND status='indexed' ORDER BY path", (video_id,)
        ).fetchall()

    def failed_files(self) -> list[tuple[str, str]]:
        return self._db.execute("SELECT path, error FROM files WHERE status='failed' ORDER BY path").fetchall()

    # indexes: named sets of registered folders, for /classify/bulk
    def ensure_index(self, name: str, root: str) -> str:
        with self._tx() as db:
            row = db.execute("SELECT index_id FROM indexes WHERE name=?", (name,)).fetchone()
            index_id = row[0] if row else secrets.token_hex(12)
            if not row:
                db.execute("INSERT INTO indexes VALUES (?,?,?)", (index_id, name, time.time()))
            db.execute("INSERT OR IGNORE INTO index_roots VALUES (?,?)", (index_id, root))
        return index_id

    def index_roots(self, index_id: str) -> list[str] | None:
        if self._db.execute("SELECT 1 FROM indexes WHERE index_id=?", (index_id,)).fetchone() is None:
            return None
        return [r[0] for r in self._db.execute("SELECT root FROM index_roots WHERE index_id=?", (index_id,))]

    def indexes(self) -> list[IndexRow]:
        rows = self._db.execute("SELECT index_id, name, created_at FROM indexes ORDER BY name").fetchall()
        return [IndexRow(index_id, name, self.index_roots(index_id), created) for index_id, name, created in rows]

    # the watched folders' job queue (edge.watch)
    def enqueue(self, path: str, size: int, mtime_ns: int) -> bool:
        """Queue a path seen with this size and mtime, unless it is queued or running already, or was indexed
        (or failed) as it is now: checked in the same transaction, as the worker may just have finished it."""
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM files WHERE path=? AND size=? AND mtime_ns=? AND status IN ('indexed', 'failed')",
                (path, size, mtime_ns),
            ).fetchone():
                return False
            return (
                db.execute(
                    "INSERT INTO jobs(path, state, updated_at) VALUES (?, 'queued', ?) ON CONFLICT(path) DO UPDATE SET "
                    "state='queued', attempts=0, updated_at=excluded.updated_at "
                    "WHERE jobs.state NOT IN ('queued', 'running')",
                    (path, time.time()),
                ).rowcount
                > 0
            )

    def requeue_running(self, max_attempts: int = 3) -> int:
        """At start-up: jobs a killed process left running are queued again (indexing is idempotent), except
        one that was running at `max_attempts` crashes: a file that kills the process must not do so forever."""
        return self._db.execute(
            "UPDATE jobs SET state=CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END, "
            "updated_at=? WHERE state='running'",
            (max_attempts, time.time()),
        ).rowcount

    def claim_job(self) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT path FROM jobs WHERE state='queued' ORDER BY updated_at, path LIMIT 1").fetchone()
            if row:
                db.execute(
                    "UPDATE jobs SET state='running', attempts=attempts+1, updated_at=? WHERE path=?",
                    (time.time(), row[0]),
                )
        return row[0] if row else None

    def finish_job(self, path: str, state: str) -> None:
        # Only a job still running is finished: one re-queued meanwhile (the file changed) runs again.
        self._db.execute(
            "UPDATE jobs SET state=?, updated_at=? WHERE path=? AND state='running'", (state, time.time(), path)
        )

    def job_counts(self) -> dict[str, int]:
        counts = dict(self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        return {state: counts.get(state, 0) for state in ("queued", "running", "failed")}

    def paths_under(self, root: str) -> set[str]:
        """Paths of registered files and jobs below a folder (to notice the ones deleted from it)."""
        prefix = root.rstrip("/") + "/"
        query = (
            "SELECT path FROM files WHERE substr(path, 1, ?)=? UNION SELECT path FROM jobs WHERE substr(path, 1, ?)=?"
        )
        return {r[0] for r in self._db.execute(query, (len(prefix), prefix, len(prefix), prefix))}

    def forget_file(self, path: str) -> None:
        """A deleted file leaves the store; the video goes too unless another file holds the same content."""
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE path=?", (path,))
            db.execute("DELETE FROM jobs WHERE path=?", (path,))
        self.drop_unreferenced_videos()

    # stored result pages: computed once, fetched by token until they expire
    def put_pages(self, pages: list[tuple[str, dict]], expires_at: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM result_pages WHERE expires_at < ?", (time.time(),))
            db.executemany(
                "INSERT INTO result_pages VALUES (?,?,?)",
                [(token, json.dumps(body), expires_at) for token, body in pages],
            )

    def page(self, token: str) -> dict | None:
        row = self._db.execute("SELECT body, expires_at FROM result_pages WHERE token=?", (token,)).fetchone()
        if row is None or row[1] < time.time():
            return None
        return json.loads(row[0])


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type, exc, tb) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
