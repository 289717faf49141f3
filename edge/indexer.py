"""Files and folders -> registered, indexed videos (content-derived ids, idempotent, failure-tolerant)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge.audio import AudioError
from edge.bundles import TextModels
from edge.decode import VIDEO_EXTENSIONS, FrameDecoder, VideoError, probe
from edge.hashing import sha256_file
from edge.sampling import VisualSampler, return_free_memory, scan_samples
from edge.store import Store
from edge.textsources import conversation, screen_text
from edge.types import CONVERSATION, SOURCES, TEXT_IN_VIDEO, VISUAL, Segments, TimedItems, VideoInfo

log = logging.getLogger("edge.index")

# Extensions that are certainly not videos are not probed when walking a folder.
_NOT_VIDEO = {
    ".txt",
    ".json",
    ".md",
    ".srt",
    ".vtt",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pdf",
    ".zip",
    ".tar",
    ".gz",
    ".db",
    ".sqlite",
    ".py",
    ".log",
    ".csv",
    ".xml",
    ".html",
    ".wav",
    ".mp3",
    ".flac",
    ".m4a",
    ".aac",
    ".ogg",
    ".opus",
}
# Frame sources share one decode; speech runs beside it (Extractor._extract).
_ORDER = (VISUAL, TEXT_IN_VIDEO, CONVERSATION)


@dataclass
class IndexReport:
    indexed: list[dict] = field(default_factory=list)
    unchanged: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)


def video_id_for(path: Path) -> str:
    """24 hex characters of the content's sha256: the same bytes get the same id wherever they live."""
    return sha256_file(path)[:24]


def discover(paths: list[Path]) -> Iterator[Path]:
    """Named files as they are; folders recursively, by extension, probing files of unknown type.

    Inside a folder nothing outside it is read: os.walk does not enter linked folders, and a file link
    that resolves outside the folder is skipped (a watched folder must not expose the rest of the disk).
    """
    for path in paths:
        path = path.expanduser().resolve()
        if path.is_file():
            yield path
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"no such file or folder: {path}")
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                candidate = Path(root) / name
                ext = candidate.suffix.lower()
                if name.startswith(".") or ext in _NOT_VIDEO:
                    continue
                if not candidate.resolve().is_relative_to(path):  # a link out of the folder: never followed
                    log.warning("event=skipped path=%s reason=links_outside_folder", candidate)
                    continue
                if ext in VIDEO_EXTENSIONS or _looks_like_video(candidate):
                    yield candidate


def _looks_like_video(path: Path) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return _probes_as_video(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _probes_as_video(path: str, size: int, mtime_ns: int) -> bool:
    """Cached by size and mtime: a watched folder is walked every few seconds, and opening the same
    non-video files with FFmpeg each time would be work done again for nothing."""
    try:
        probe(Path(path))
        return True
    except (VideoError, OSError):
        return False


@dataclass
class Extraction:
    """What extracting one video found: everything the store needs and nothing that needs the store, so it can
    be made on another machine (edge.cluster) and written by the one that holds the store."""

    video_id: str
    info: VideoInfo
    sources: list[str]  # the sources extracted (those the store still lacked for this content)
    segments: dict[tuple[str, str], Segments]
    timed: dict[tuple[str, str], TimedItems]
    stats: dict
    elapsed_s: float


class Extractor:
    """One video file -> Extraction, with the models loaded once. It never touches the store.

    The frame sources (visual, text_in_video) share one decode; speech runs after it, never beside it:
    whisper.cpp's threads busy-wait and slow down many-fold when other work holds the cores.
    """

    def __init__(
        self,
        bundle,
        sample_fps: float,
        text: TextModels | None = None,
        progress: Callable[[str], None] = lambda message: log.info(message),
        frame_nice: int = 10,
        on_sample: Callable[[float, np.ndarray], None] | None = None,
        decoder: FrameDecoder | None = None,
    ):
        """`on_sample` sees every decoded sample too (a progress bar's); `decoder`: default NVDEC or CPU."""
        self.bundle, self.sample_fps, self.text = bundle, sample_fps, text
        self.progress, self.frame_nice, self.on_sample, self.decoder = progress, frame_nice, on_sample, decoder

    def key(self, source: str) -> str:
        return self.bundle.key if source == VISUAL else self.text.key(source)

    def extract(self, path: Path, missing_for: Callable[[str], list[str]]) -> Extraction:
        """Probe and hash the file, then extract the sources `missing_for(video_id)` names."""
        started = time.perf_counter()
        info = probe(path)
        video_id = video_id_for(path)
        missing = missing_for(video_id)
        segments, timed, stats = self._extract(path, info, missing) if missing else ({}, {}, {})
        return Extraction(video_id, info, missing, segments, timed, stats, time.perf_counter() - started)

    def _extract(self, path: Path, info: VideoInfo, missing: list[str]) -> tuple[dict, dict, dict]:
        """The missing sources of one file. Speech runs beside the frame scan, on a thread of its own at normal
        priority: whisper.cpp takes the cores the (niced) frame stage leaves, and the frames go on in what
        speech leaves, so a video with both costs about the longer of the two, not their sum."""
        segments, timed, stats = {}, {}, {"warnings": []}
        visual = VisualSampler(self.bundle.image_encoder) if VISUAL in missing else None
        reader = self.text.text_reader(1.0 / self.sample_fps) if TEXT_IN_VIDEO in missing else None
        speech = None
        if CONVERSATION in missing:
            self.text.load(missing)  # models are loaded lazily: never by two threads at once
            speech = ThreadPoolExecutor(1, thread_name_prefix="speech")
            heard = speech.submit(self._conversation, path)
        try:
            if visual or reader:
                self._frames(path, info, visual, reader, segments, timed, stats)
                visual = reader = None  # what they held for the frame pass is garbage now
                return_free_memory()
        finally:
            if speech is not None:
                speech.shutdown(wait=True)
        if speech is not None:
            found, speech_stats = heard.result()
            segments.update(found[0])
            timed.update(found[1])
            warnings = speech_stats.pop("warnings", [])  # added to the frames' own, not put in their place
            stats.update(speech_stats)
            stats["warnings"] += warnings
        return segments, timed, stats

    def _frames(self, path, info, visual, reader, segments, timed, stats) -> None:
        consumers = [c.feed for c in (visual, reader) if c] + ([self.on_sample] if self.on_sample else [])
        dense = (visual.bursts, [visual.feed_dense]) if visual and visual.actions else None
        starts, ends = scan_samples(
            path, info, self.sample_fps, consumers, self.progress, self.frame_nice, dense, self.decoder
        )
        if visual:
            segments[(VISUAL, self.key(VISUAL))] = visual.segments(starts, ends)
            stats.update(samples=len(starts), encoded=visual.encoded)
            if visual.actions:
                actions = visual.actions
                stats.update(
                    action_windows=len(actions.windows),
                    action_classified=actions.classified,
                    action_s=round(actions.seconds, 2),
                )
        if reader:
            spans = reader.finish(info.duration)
            source = (TEXT_IN_VIDEO, self.key(TEXT_IN_VIDEO))
            segments[source], timed[source] = screen_text(spans, self.text)
            ocr = reader.stats
            stats.update(
                text_spans=len(spans),
                ocr_samples=ocr["ocr_samples"],
                ocr_s=round(ocr["det_s"] + ocr["rec_s"] + ocr["gate_s"], 2),
            )

    def _conversation(self, path: Path) -> tuple[tuple[dict, dict], dict]:
        source = (CONVERSATION, self.key(CONVERSATION))
        t0 = time.perf_counter()
        try:
            segments, timed = conversation(path, self.text)
        except AudioError as exc:  # the pictures are still worth indexing; the track stays reported
            self.progress(f"event=source_failed path={path} source={CONVERSATION} error={str(exc)!r}")
            return ({}, {}), {"warnings": [f"conversation: {exc}"]}
        stats = {
            "words": len(timed.items),
            "language": timed.language or "-",
            "speech_s": round(time.perf_counter() - t0, 2),
        }
        if timed.items:
            stats["speech_threads"] = self.text.transcriber.last_threads
        return ({source: segments}, {source: timed}), stats


class IndexWriter:
    """The store side of indexing, shared by local and cluster indexing: which files still need work and which
    sources their content lacks, and writing what an extraction found (or why a file failed)."""

    def __init__(
        self, store: Store, sources: tuple[str, ...], key: Callable[[str], str], progress: Callable[[str], None]
    ):
        self.store, self.sources, self.key, self.progress = store, sources, key, progress

    def missing(self, video_id: str) -> list[str]:
        return [s for s in self.sources if not self.store.has_segments(video_id, s, self.key(s))]

    def plan(self, path: Path, report: IndexReport, position: str) -> os.stat_result | None:
        """The file's stat when it needs work; None (reported as unchanged) when it is indexed as it is now."""
        stat = path.stat()
        known = self.store.file_row(str(path))
        if (
            known
            and known.status == "indexed"
            and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            and not self.missing(known.video_id)
        ):
            report.unchanged.append({"path": str(path), "video_id": known.video_id})
            self.progress(f"event=unchanged n={position} path={path} video_id={known.video_id}")
            return None
        return stat

    def write(
        self, path: Path, stat: os.stat_result, found: Extraction, report: IndexReport, position: str, detail: str = ""
    ) -> None:
        """Store the extraction (one transaction), then register the file as it was when planned."""
        key, video_id, info = str(path), found.video_id, found.info
        known = self.store.file_row(key)
        if found.sources:
            self.store.put_video(video_id, path.name, info, found.segments, found.timed)
        self.store.record_file(key, stat.st_size, stat.st_mtime_ns, "indexed", video_id)
        if known and known.video_id and known.video_id != video_id:
            self.store.drop_unreferenced_videos()
        entry = {"path": key, "video_id": video_id, "duration": round(info.duration, 3), "sources": found.sources}
        stats = dict(found.stats)
        if warnings := stats.pop("warnings", []):
            entry["warnings"] = warnings
        report.indexed.append(entry)
        details = " ".join(f"{k}={v}" for k, v in stats.items())
        elapsed = found.elapsed_s
        self.progress(
            f"event=indexed n={position} path={key} video_id={video_id} "
            f"duration_s={info.duration:.1f} sources={','.join(found.sources) or '-'} {details}{detail} "
            f"elapsed_s={elapsed:.2f} speed_x={info.duration / max(elapsed, 1e-9):.1f}"
        )

    def fail(self, path: Path, message: str, report: IndexReport, position: str) -> None:
        key = str(path)
        try:
            stat = path.stat()
            self.store.record_file(key, stat.st_size, stat.st_mtime_ns, "failed", error=message)
            self.store.drop_unreferenced_videos()  # what this file held before no longer describes it
        except OSError:
            pass
        report.failed.append({"path": key, "error": message})
        self.progress(f"event=failed n={position} path={key} error={message!r}")


class Indexer:
    """Indexes videos for the configured sources on this machine; a video already indexed for some gets only
    the missing ones. (edge.cluster does the same with the extraction on Ray workers.)"""

    def __init__(
        self,
        store: Store,
        bundle,
        sample_fps: float,
        text: TextModels | None = None,
        sources: tuple[str, ...] = (VISUAL,),
        progress: Callable[[str], None] = lambda message: log.info(message),
        frame_nice: int = 10,
        meter=None,
        decoder: FrameDecoder | None = None,
    ):
        """`meter` (an edge.progress.IndexBar, on a terminal) is told the totals, each sample and each file."""
        self.sources = check_sources(sources, text is not None)
        self.extractor = Extractor(bundle, sample_fps, text, progress, frame_nice, meter.at if meter else None, decoder)
        self.writer = IndexWriter(store, self.sources, self.extractor.key, progress)
        self.meter = meter

    def index(self, paths: list[Path]) -> IndexReport:
        report = IndexReport()
        candidates = list(discover(paths))
        planned = {}
        if self.meter:
            planned = {path: self._seconds_to_index(path) for path in candidates}
            self.meter.begin(len(candidates), sum(planned.values()))
        for n, path in enumerate(candidates, 1):
            position, seconds = f"{n}/{len(candidates)}", planned.get(path, 0.0)
            try:
                if (stat := self.writer.plan(path, report, position)) is not None:
                    found = self.extractor.extract(path, self.writer.missing)
                    self.writer.write(path, stat, found, report, position)
                    seconds = planned.get(path, found.info.duration)
            except Exception as exc:  # one broken file never stops the batch
                self.writer.fail(path, str(exc) or type(exc).__name__, report, position)
            if self.meter:
                self.meter.done(seconds)
        return report

    def _seconds_to_index(self, path: Path) -> float:
        """For the meter's total: a file's duration, unless it is unchanged (or unreadable) and will be skipped."""
        try:
            stat = path.stat()
            known = self.writer.store.file_row(str(path))
            if known and known.status == "indexed" and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                return 0.0
            return probe(path).duration
        except (OSError, VideoError):
            return 0.0


def check_sources(sources: tuple[str, ...], have_text: bool) -> tuple[str, ...]:
    """The sources in extraction order; ValueError for unknown ones or text sources without the text models."""
    unknown = set(sources) - set(SOURCES)
    if unknown or not sources:
        raise ValueError(f"sources must be some of {', '.join(SOURCES)}; got {', '.join(sources) or 'none'}")
    if not have_text and set(sources) - {VISUAL}:
        raise ValueError("conversation and text_in_video need the text models")
    return tuple(s for s in _ORDER if s in sources)
