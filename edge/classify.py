"""A validated classify request -> a stored, paged result set in the v1.2 response shape."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge import redecode
from edge.confidence import Confidence
from edge.contract import MAX_TOTAL_DURATION_S, ApiError, ClassifyRequest
from edge.scoring import (
    Clip,
    ExactText,
    class_result,
    find_clips,
    finish_video,
    sample_scores,
    segment_clips,
    with_context,
)
from edge.store import Store, VideoRow
from edge.types import CONVERSATION, EXACT_MATCH, SEMANTIC, SOURCES, VISUAL

_PROMPT_CACHE_SIZE = 4096
_EXACT_CACHE_SIZE = 256  # videos' prepared timed text (10 h of speech: ~90k words)
_REDECODE_CACHE_SIZE = 4096  # (video, name) -> what re-decoding found: clients repeat classes


ThumbnailLink = Callable[[str, float], str | None]  # (video_id, peak time) -> the clip's thumbnail_url, if any


def wire(body: dict, thumbnail_url: ThumbnailLink | None = None) -> dict:
    """A stored page as the client sees it: each clip's peak time becomes its thumbnail_url (when the shell
    serves thumbnails) or goes; it is never part of the response itself."""
    data = []
    for video in body["data"]:
        classes = []
        for entry in video["classes"]:
            if "clips" in entry:
                clips = []
                for clip in entry["clips"]:
                    clip = dict(clip)
                    peak = clip.pop("_peak", None)
                    url = thumbnail_url(video["video_id"], peak) if thumbnail_url and peak is not None else None
                    if url:
                        clip["thumbnail_url"] = url
                    clips.append(clip)
                entry = {**entry, "clips": clips}
            classes.append(entry)
        data.append({**video, "classes": classes})
    return {**body, "data": data}


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class SegmentCache:
    """Recently scored segment matrices as float32, so repeated requests skip SQLite and the f16 widening."""

    def __init__(self, store: Store, budget_bytes: int):
        self.store, self.budget = store, budget_bytes
        self._items: OrderedDict[tuple, tuple] = OrderedDict()
        self._bytes = 0

    def get(self, video_id: str, source: str, model_key: str):
        key = (video_id, source, model_key)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        segments = self.store.segments(video_id, source, model_key)
        if segments is None:
            return None
        item = (segments.starts, segments.ends, segments.vectors.astype(np.float32))
        self._items[key] = item
        self._bytes += item[2].nbytes
        while self._bytes > self.budget and len(self._items) > 1:
            self._bytes -= self._items.popitem(last=False)[1][2].nbytes
        return item


@dataclass(frozen=True)
class EmbeddedPrompts:
    """Every prompt of a request, class by class, as calibrated matrices per encoder (VISUAL or TEXT)."""

    prompts: list[str]
    class_starts: np.ndarray
    matrices: dict[str, tuple[np.ndarray, np.ndarray]]  # encoder -> (scaled prompt matrix, offset)


class Classifier:
    def __init__(
        self,
        store: Store,
        bundle,
        page_ttl_s: float = 300.0,
        cache_bytes: int = 256 << 20,
        text=None,
        confidence: Confidence | None = None,
    ):
        """`text` (edge.bundles.TextModels) makes conversation and text_in_video available; `confidence` turns
        sample scores into the API's clip and class scores (default: the fitted edge/data/scores.json)."""
        self.store, self.bundle, self.text, self.page_ttl_s = store, bundle, text, page_ttl_s
        self.confidence = confidence or Confidence.load()
        self.available = (VISUAL,) if text is None else SOURCES
        self.segments = SegmentCache(store, cache_bytes)
        self._prompt_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()  # clients repeat classes
        self._exact_texts: OrderedDict[tuple[str, str, str], ExactText] = OrderedDict()
        self._redecoded: OrderedDict[tuple[str, str, str], list[redecode.Confirmed]] = OrderedDict()

    def resolve_videos(self, request: ClassifyRequest) -> list[VideoRow]:
        if request.index_id is not None:
            roots = self.store.index_roots(request.index_id)
            if roots is None:
                raise ApiError("resource_not_exist", f"The index {request.index_id} does not exist.", 404)
            return self.store.videos(roots=roots)
        videos = {v.video_id: v for v in self.store.videos(list(request.video_ids))}
        for video_id in request.video_ids:
            if video_id not in videos:
                raise ApiError("resource_not_exist", f"The video {video_id} does not exist.", 404)
        return [videos[v] for v in request.video_ids]

    def _check_request(self, request: ClassifyRequest, videos: list[VideoRow]) -> None:
        for spec in request.classes:
            missing = [o for o in spec.options if o not in self.available]
            if missing:
                raise ApiError(
                    "parameter_invalid",
                    f"The option {missing[0]!r} (class {spec.name!r}) is not available in this "
                    f"installation; available: {', '.join(self.available)}.",
                )
        total = sum(v.duration for v in videos)
        if total > MAX_TOTAL_DURATION_S:
            raise ApiError(
                "parameter_invalid",
                f"The total duration of the videos must be at most {MAX_TOTAL_DURATION_S / 3600:g} hours "
                f"({MAX_TOTAL_DURATION_S} s); got {total:.0f} s.",
            )

    def classify(self, request: ClassifyRequest, thumbnail_url: ThumbnailLink | None = None) -> dict:
        videos = self.resolve_videos(request)
        self._check_request(request, videos)
        return wire(self.rank(videos, request, self.embed_prompts(request)), thumbnail_url)

    def rank(self, videos: list[VideoRow], request: ClassifyRequest, embedded: EmbeddedPrompts) -> dict:
        """Score every video with already embedded prompts; store the pages; return the first (as stored)."""
        data = []
        for video in videos:
            classes = self.score_video(video, request, embedded)
            if classes:
                data.append({"video_id": video.video_id, "classes": classes})
        data.sort(key=lambda v: -v["classes"][0]["score"])
        return self.store_pages(data, request.page_limit)

    def _encode(self, encoder, prompts: list[str]) -> np.ndarray:
        keys = [(encoder.key, p) for p in prompts]
        new = [k for k in dict.fromkeys(keys) if k not in self._prompt_vectors]
        for k, vector in zip(new, encoder.encode([p for _, p in new])):
            self._prompt_vectors[k] = vector
        for k in keys:
            self._prompt_vectors.move_to_end(k)
        while len(self._prompt_vectors) > _PROMPT_CACHE_SIZE:
            self._prompt_vectors.popitem(last=False)
        return np.stack([self._prompt_vectors[k] for k in keys])

    def embed_prompts(self, request: ClassifyRequest) -> EmbeddedPrompts:
        """Prompts scaled by their calibration per encoder, so scoring a source is a single matmul."""
        prompts = [p for spec in request.classes for p in spec.prompts]
        class_starts = np.cumsum([0] + [len(spec.prompts) for spec in request.classes[:-1]])
        needed = {
            _encoder_for(o)
            for spec in request.classes
            for o in spec.options
            if o == VISUAL or spec.conversation_option == SEMANTIC
        }
        matrices = {}
        for name in needed:
            encoder, calibration = (
                (self.bundle.text_encoder, self.bundle.calibration)
                if name == VISUAL
                else (self.text.encoder, self.text.calibration)
            )
            matrices[name] = calibration.prompt_transform(self._encode(encoder, prompts))
        return EmbeddedPrompts(prompts, class_starts, matrices)

    def _key(self, source: str) -> str:
        return self.bundle.key if source == VISUAL else self.text.key(source)

    def _semantic(self, video: VideoRow, source: str, embedded: EmbeddedPrompts):
        """Per-class scores [S, C] of a source's segments, and a function naming the best prompt at a segment."""
        segments = self.segments.get(video.video_id, source, self._key(source))
        if segments is None:
            raise _not_indexed(video, source, self._key(source))
        starts, ends, vectors = segments
        matrix, offset = embedded.matrices[_encoder_for(source)]
        calibration = self.bundle.calibration if source == VISUAL else self.text.calibration
        # the clip-level probability folded into the sample calibration: one logistic per score, not two
        to_score = self.confidence[source].compose(calibration).to_score
        scores, features = sample_scores(vectors, matrix, offset, embedded.class_starts, to_score)
        bounds = list(embedded.class_starts) + [len(embedded.prompts)]

        def prompt_at(c: int, i: int) -> str:
            return embedded.prompts[bounds[c] + int(np.argmax(features[i, bounds[c] : bounds[c + 1]]))]

        return starts, ends, scores, prompt_at

    def _exact(self, video: VideoRow, source: str) -> ExactText:
        """A video's timed text prepared for exact matching, kept for the requests that follow."""
        key = (video.video_id, source, self._key(source))
        if key not in self._exact_texts:
            timed = self.store.timed_text(*key)
            if timed is None:
                raise _not_indexed(video, source, self._key(source))
            self._exact_texts[key] = ExactText(timed.items, source, timed.language)
            while len(self._exact_texts) > _EXACT_CACHE_SIZE:
                self._exact_texts.popitem(last=False)
        self._exact_texts.move_to_end(key)
        return self._exact_texts[key]

    def exact_matches(self, video: VideoRow, source: str, prompts: tuple[str, ...]) -> tuple[list[Clip], bool]:
        """A class's exact_match clips in a video, and whether only a tolerant reading found them. A spoken name
        found neither word for word nor by its letters gets a second chance, at a cost of ~1 s of CPU per place
        it may have been said: those places re-decoded with it as Whisper's prompt (edge.redecode)."""
        exact = self._exact(video, source)
        clips, tolerant = exact.matches(prompts)
        if (clips and not tolerant) or source != CONVERSATION or self.text is None or not video.path:
            return clips, tolerant
        confirmed = []
        for prompt in prompts:
            key = (video.video_id, self._key(source), prompt)
            if key not in self._redecoded:
                self._redecoded[key] = redecode.confirm(
                    self.text.transcriber, Path(video.path), exact.items, prompt, exact.language
                )
                while len(self._redecoded) > _REDECODE_CACHE_SIZE:
                    self._redecoded.popitem(last=False)
            confirmed += exact.confirmed_clips(prompt, self._redecoded[key])
        # a sound-alike hit that the re-decode confirmed is one place, not two
        clips = [c for c in clips if all(c.end < k.start or c.start > k.end for k in confirmed)] + confirmed
        return clips, bool(clips)

    def score_video(self, video: VideoRow, request: ClassifyRequest, embedded: EmbeddedPrompts) -> list[dict]:
        semantic: dict[str, tuple] = {}  # per source, computed once for all classes
        results = []
        for c, spec in enumerate(request.classes):
            clips, scores = [], []
            for source in spec.options:
                model = self.confidence[source]
                if source != VISUAL and spec.conversation_option == EXACT_MATCH:
                    found, fuzzy = self.exact_matches(video, source, spec.prompts)
                    scores.append(model.exact_score([clip.score for clip in found], fuzzy))
                    passing = [clip for clip in found if clip.score >= request.thresholds.min_clip_score]
                    if source == CONVERSATION:
                        passing = [with_context(clip, video.duration) for clip in passing]
                    clips += passing
                    continue
                if source not in semantic:
                    starts, ends, sample, prompt_at = self._semantic(video, source, embedded)
                    semantic[source] = starts, ends, sample, prompt_at, model.video_scores(sample)
                starts, ends, sample, prompt_at, video_scores = semantic[source]
                scores.append(float(video_scores[c]))
                clip_finder = find_clips if source == VISUAL else segment_clips
                clips += clip_finder(
                    starts,
                    ends,
                    sample[:, c],
                    request.thresholds.min_clip_score,
                    source,
                    lambda i, c=c: prompt_at(c, i),
                )
            entry = class_result(
                spec.name, clips, video.duration, request.thresholds, request.include_clips, max(scores)
            )
            if entry:
                results.append(entry)
        return finish_video(results, request.show_detailed_score)

    def store_pages(self, data: list[dict], limit: int) -> dict:
        """Cut the result set into pages, store them under expiring tokens, return the first."""
        now = time.time()
        expires_at = now + self.page_ttl_s
        expired_text = rfc3339(expires_at)
        chunks = [data[i : i + limit] for i in range(0, len(data), limit)] or [[]]
        tokens = [secrets.token_hex(16) for _ in chunks]  # hex: a token never looks like a CLI option
        pages = []
        for i, (token, chunk) in enumerate(zip(tokens, chunks)):
            pages.append(
                (
                    token,
                    {
                        "data": chunk,
                        "page_info": {
                            "limit_per_page": limit,
                            "total_results": len(data),
                            "page_expired_at": expired_text,
                            "next_page_token": tokens[i + 1] if i + 1 < len(tokens) else "",
                            "prev_page_token": tokens[i - 1] if i > 0 else "",
                        },
                    },
                )
            )
        self.store.put_pages(pages, expires_at)
        return pages[0][1]

    def page(self, token: str, thumbnail_url: ThumbnailLink | None = None) -> dict:
        return read_page(self.store, token, thumbnail_url)


def read_page(store: Store, token: str, thumbnail_url: ThumbnailLink | None = None) -> dict:
    """A stored page of an earlier result set; unknown and expired tokens are the contract's 400."""
    body = store.page(token)
    if body is None:
        raise ApiError("parameter_invalid", f"The page token {token!r} is unknown or has expired.", 400)
    return wire(body, thumbnail_url)


_TEXT = "text"  # the text encoder, which embeds prompts for both text sources


def _encoder_for(source: str) -> str:
    return VISUAL if source == VISUAL else _TEXT


def _not_indexed(video: VideoRow, source: str, key: str) -> ApiError:
    return ApiError(
        "parameter_invalid",
        f"The video {video.video_id} is not indexed for the {source} option with the current models "
        f"({key}); run `edge index` on it.",
    )
