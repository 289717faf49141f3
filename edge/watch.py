"""Watched folders for `edge serve`: notice new, changed and deleted videos and index them in the background.

Two threads, each with its own SQLite connection (WAL lets them work beside the server's):
- the scanner walks the folders when inotify reports a change (on Linux), and every `interval_s` in any case
  (network shares deliver no inotify events); a new or changed file is queued (table `jobs`) only once its size
  and mtime have stayed the same for `settle_s`, so a file still being copied is not indexed half-written; a file
  gone from its folder leaves the store.
- the worker takes queued jobs one at a time (one indexing thread: the models already use the cores) and runs
  the Indexer on them.
The queue is durable: after a crash, jobs left `running` are queued again at start-up, and because indexing is
idempotent (content-derived ids, segments replaced in one transaction) a re-run never duplicates anything.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from edge.indexer import discover
from edge.store import Store

log = logging.getLogger("edge.watch")


class _ChangeSignal:
    """Wakes the scanner as soon as something changes in the folders (inotify, on Linux), so a poll interval is
    only the safety net (network shares deliver no inotify events); without inotify it simply waits."""

    _STEP_S = 0.5  # longest single block, so that stop() is noticed quickly

    def __init__(self):
        try:
            from inotify_simple import INotify, flags

            self._inotify = INotify()
            self._mask = (
                flags.CREATE
                | flags.CLOSE_WRITE
                | flags.MODIFY
                | flags.ATTRIB
                | flags.DELETE
                | flags.MOVED_FROM
                | flags.MOVED_TO
            )
        except (ImportError, OSError) as exc:
            log.info("event=inotify_unavailable reason=%r polling=only", exc)
            self._inotify = None

    def watch_tree(self, root: Path) -> None:
        if self._inotify is None:
            return
        for folder, dirs, _ in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            try:
                self._inotify.add_watch(folder, self._mask)  # idempotent for a folder already watched
            except OSError:  # vanished meanwhile, or the per-user watch limit is reached: polling covers it
                pass

    def wait(self, timeout_s: float, stop: threading.Event) -> None:
        deadline = time.monotonic() + timeout_s
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._inotify is None:
                stop.wait(min(left, self._STEP_S))
            elif self._inotify.read(timeout=int(1000 * min(left, self._STEP_S))):
                return

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()


class Watcher:
    def __init__(self, edge, folders: dict[str, Path], interval_s: float = 2.0, settle_s: float = 2.0):
        """`edge`: the appliance (edge.appliance.Edge) whose store and models the worker indexes with."""
        self.edge, self.db_path = edge, edge.settings.db_path
        self.folders = {name: Path(path).expanduser().resolve() for name, path in folders.items()}
        self.interval_s, self.settle_s = interval_s, settle_s
        self._stop = threading.Event()
        self._work = threading.Event()  # set when something was queued, so the worker need not wait a poll
        self._pending: dict[str, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, first seen so)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        store = Store(self.db_path)
        try:
            for name, root in self.folders.items():
                store.ensure_index(name, str(root))
            requeued = store.requeue_running()
        finally:
            store.close()
        if requeued:
            log.info("event=requeued jobs=%d", requeued)
        self._threads = [
            threading.Thread(target=self._run, args=(loop,), name=f"edge-{loop.__name__}", daemon=True)
            for loop in (self._scan_loop, self._work_loop)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask both threads to stop; a video being indexed may not finish in time, and is queued again next start."""
        self._stop.set()
        self._work.set()
        for thread in self._threads:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("event=stop_timeout thread=%s", thread.name)
        log.info("event=watcher_stopped")

    def _run(self, loop) -> None:
        store = Store(self.db_path)
        try:
            loop(store)
        except Exception:  # a dead watcher must say so; the API keeps serving what is indexed
            log.exception("event=watcher_error thread=%s", threading.current_thread().name)
        finally:
            store.close()

    # scanner
    def _scan_loop(self, store: Store) -> None:
        changes = _ChangeSignal()
        first = set(self.folders.values())
        try:
            while not self._stop.is_set():
                for root in self.folders.values():
                    changes.watch_tree(root)
                    files = self.scan(store, root)
                    if root in first:  # from here on a change in the folder is noticed (inotify or the next poll)
                        first.discard(root)
                        log.info("event=watching root=%s files=%d", root, files)
                # files still settling are looked at again once they may have settled
                changes.wait(min(self.interval_s, self.settle_s) if self._pending else self.interval_s, self._stop)
        finally:
            changes.close()

    def scan(self, store: Store, root: Path) -> int:
        """Queue what changed under `root`, forget what is gone; returns how many video files it holds."""
        if not root.is_dir():
            log.warning("event=folder_missing root=%s", root)
            return 0
        now = time.monotonic()
        seen = set()
        for path in discover([root]):
            key = str(path)
            seen.add(key)
            try:
                stat = path.stat()
            except OSError:  # deleted between the walk and the stat: the next scan sees it gone
                continue
            known = store.file_row(key)
            if (
                known
                and known.status in ("indexed", "failed")
                and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            ):
                self._pending.pop(key, None)
                continue
            size_mtime = (stat.st_size, stat.st_mtime_ns)
            previous = self._pending.get(key)
            if previous is None or previous[:2] != size_mtime:
                self._pending[key] = (*size_mtime, now)  # new or still changing: wait for it to settle
                log.info("event=settling path=%s size=%d", key, stat.st_size)
                continue
            if now - previous[2] >= self.settle_s:
                del self._pending[key]
                if store.enqueue(key, *size_mtime):
                    log.info("event=queued path=%s size=%d", key, stat.st_size)
                    self._work.set()
        for key in store.paths_under(str(root)) - seen:
            if not Path(key).exists():
                store.forget_file(key)
                self._pending.pop(key, None)
                log.info("event=removed path=%s", key)
        return len(seen)

    # worker
    def _work_loop(self, store: Store) -> None:
        indexer = self.edge.indexer(store=store)
        while not self._stop.is_set():
            path = store.claim_job()
            if path is None:
                self._work.wait(self.interval_s)
                self._work.clear()
                continue
            if not Path(path).is_file():  # deleted after it was queued
                store.forget_file(path)
                log.info("event=removed path=%s", path)
                continue
            report = indexer.index([Path(path)])  # logs event=indexed / unchanged / failed itself
            store.finish_job(path, "failed" if report.failed else "done")
