"""A validated classify request -> a stored, paged result set in the v1.2 response shape."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from datetime import datetime, timezone

import numpy as np

from edge.contract import MAX_TOTAL_DURATION_S, ApiError, ClassifyRequest
from edge.scoring import class_result, find_clips, finish_video, sample_scores
from edge.store import Store, VideoRow

AVAILABLE_OPTIONS = ("visual",)
_PROMPT_CACHE_SIZE = 4096


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


class Classifier:
    def __init__(self, store: Store, bundle, page_ttl_s: float = 300.0, cache_bytes: int = 256 << 20):
        self.store, self.bundle, self.page_ttl_s = store, bundle, page_ttl_s
        self.segments = SegmentCache(store, cache_bytes)
        self._prompt_vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # clients repeat their classes

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
            missing = [o for o in spec.options if o not in AVAILABLE_OPTIONS]
            if missing:
                raise ApiError("parameter_invalid",
                               f"The option {missing[0]!r} (class {spec.name!r}) is not available in this "
                               f"installation; available: {', '.join(AVAILABLE_OPTIONS)}.")
        total = sum(v.duration for v in videos)
        if total > MAX_TOTAL_DURATION_S:
            raise ApiError("parameter_invalid",
                           f"The total duration of the videos must be at most {MAX_TOTAL_DURATION_S / 3600:g} hours "
                           f"({MAX_TOTAL_DURATION_S} s); got {total:.0f} s.")

    def classify(self, request: ClassifyRequest) -> dict:
        videos = self.resolve_videos(request)
        self._check_request(request, videos)
        return self.rank(videos, request, self.embed_prompts(request))

    def rank(self, videos: list[VideoRow], request: ClassifyRequest, embedded) -> dict:
        """Score every video with already embedded prompts; store the pages; return the first."""
        data = []
        for video in videos:
            classes = self.score_video(video, request, *embedded)
            if classes:
                data.append({"video_id": video.video_id, "classes": classes})
        data.sort(key=lambda v: -v["classes"][0]["score"])
        return self.store_pages(data, request.page_limit)

    def embed_prompts(self, request: ClassifyRequest):
        """Prompts class by class, scaled by their calibration, so scoring is a single matmul."""
        prompts = [p for spec in request.classes for p in spec.prompts]
        new = [p for p in dict.fromkeys(prompts) if p not in self._prompt_vectors]
        for prompt, vector in zip(new, self.bundle.text_encoder.encode(new)):
            self._prompt_vectors[prompt] = vector
        for prompt in prompts:
            self._prompt_vectors.move_to_end(prompt)
        while len(self._prompt_vectors) > _PROMPT_CACHE_SIZE:
            self._prompt_vectors.popitem(last=False)
        matrix = np.stack([self._prompt_vectors[p] for p in prompts])
        scale, offset = self.bundle.calibration.prompt_affine(matrix)
        class_starts = np.cumsum([0] + [len(spec.prompts) for spec in request.classes[:-1]])
        return matrix * scale[:, None], offset, class_starts, prompts

    def score_video(self, video: VideoRow, request: ClassifyRequest, prompt_matrix, offset, class_starts,
                    prompts) -> list[dict]:
        segments = self.segments.get(video.video_id, "visual", self.bundle.key)
        if segments is None:
            raise ApiError("parameter_invalid",
                           f"The video {video.video_id} is not indexed for the visual option with the current "
                           f"model bundle ({self.bundle.key}); run `edge index` on it.")
        starts, ends, vectors = segments
        scores, features = sample_scores(vectors, prompt_matrix, offset, class_starts,
                                         self.bundle.calibration.to_score)
        bounds = list(class_starts) + [len(prompts)]
        results = []
        for c, spec in enumerate(request.classes):
            lo, hi = bounds[c], bounds[c + 1]

            def prompt_at(i: int, lo=lo, hi=hi) -> str:
                return prompts[lo + int(np.argmax(features[i, lo:hi]))]

            clips = []
            if "visual" in spec.options:
                clips += find_clips(starts, ends, scores[:, c], request.thresholds.min_clip_score, "visual",
                                    prompt_at)
            entry = class_result(spec.name, clips, video.duration, request.thresholds, request.include_clips)
            if entry:
                results.append(entry)
        return finish_video(results, request.show_detailed_score)

    def store_pages(self, data: list[dict], limit: int) -> dict:
        """Cut the result set into pages, store them under expiring tokens, return the first."""
        now = time.time()
        expires_at = now + self.page_ttl_s
        expired_text = rfc3339(expires_at)
        chunks = [data[i:i + limit] for i in range(0, len(data), limit)] or [[]]
        tokens = [secrets.token_hex(16) for _ in chunks]  # hex: a token never looks like a CLI option
        pages = []
        for i, (token, chunk) in enumerate(zip(tokens, chunks)):
            pages.append((token, {"data": chunk, "page_info": {
                "limit_per_page": limit, "total_results": len(data), "page_expired_at": expired_text,
                "next_page_token": tokens[i + 1] if i + 1 < len(tokens) else "",
                "prev_page_token": tokens[i - 1] if i > 0 else ""}}))
        self.store.put_pages(pages, expires_at)
        return pages[0][1]

    def page(self, token: str) -> dict:
        body = self.store.page(token)
        if body is None:
            raise ApiError("parameter_invalid", f"The page token {token!r} is unknown or has expired.", 400)
        return body
