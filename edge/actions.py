"""Clip-level action evidence: 16-frame windows through the I3D Kinetics-400 model, where the picture moves.

A single frame cannot show "riding a bike" from "a bike", nor "dancing" from "a person". Every `every_s`
seconds the indexer's dense frames (WINDOW_FPS) fill a window of WINDOW_FRAMES. The model reads
appearance as much as motion (a still photo of a cat gives "grooming dog" at p 0.99), so only windows
where something moves are classified: the change gate's measure first (some 32x18 grey cell changed
by more than its threshold, frame to frame; fixed cameras stop here at no cost), then local motion
(optical flow that neither the picture's dominant affine motion nor standing still explains, counted where
the picture has texture: zoom, pan and camera shake are affine, a caption over a zooming photo stands still, a
person moving is neither, and flow over flat sky or a wall is noise. On the development set's fit part 10 of 181
photo-montage windows (zoom, pan, stamps sliding in under a still caption) reach 3% of the picture (22 with the
former least-squares fit), people kicking 11-15%, a face crying or laughing close up 9-32%; a walker a tenth of
the frame high measured 3.3%). A window that spans a cut is
skipped too: two shots are not one action. The rest go to the model in batches (one on CPU, eight on a GPU provider); each window's top Kinetics
probabilities become label weights of the visual samples nearest to it, which edge.conse mixes with the
frame labels.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from edge.runtime import open_session

log = logging.getLogger("edge.actions")

WINDOW_FRAMES = 16  # the fewest frames the I3D head accepts (T/8 = 2 time steps)
WINDOW_FPS = 12.0  # ~1.3 s of motion per window, in the range Kinetics clips were sampled at (25 fps / 2)
MODEL_SIZE = 224
_RESIZE_SHORT = 256  # shortest side before the centre crop, as kinetics-i3d's preprocessing
_TOP_K = 5  # Kinetics labels kept per window: the tail of the softmax is noise
_MIN_PROBABILITY = 0.05
_CUT_LEVEL = 25.0  # mean grey-level change of a thumbnail in 1/12 s that only a cut makes
_FLOW_SIZE = (128, 72)  # optical flow resolution: enough for a person, ~5 ms a pair
_FLOW_PAIRS = ((0, 8), (7, 15))  # frame pairs 2/3 s apart: walking moves pixels, noise does not grow
_LOCAL_PX = 1.5  # flow (pixels at _FLOW_SIZE) beyond the global motion that counts as moving
_TEXTURE = 4.0  # grey levels per pixel of gradient where flow is trusted
_MIN_LOCAL_MOTION = 0.03  # fraction of the picture moving on its own for a window to be classified


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The change gate's measure: a 32x18 grey thumbnail (sensor noise averages out over a cell)."""
    return cv2.resize(frame, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=2)


def local_motion(greys: list[np.ndarray]) -> float:
    """Fraction of the picture that is textured and whose optical flow departs by more than _LOCAL_PX both from
    the picture's dominant affine motion and from standing still, the most over _FLOW_PAIRS. greys: uint8 at
    _FLOW_SIZE. The dominant motion is fitted robustly (RANSAC) on the textured pixels alone: a least-squares
    fit over every pixel is dragged off a zooming photo by its flat background, a still caption or a border,
    and then the whole photo seemed to move on its own (montages scored like a person walking)."""
    w, h = _FLOW_SIZE
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    moving = 0.0
    for a, b in _FLOW_PAIRS:
        flow = cv2.calcOpticalFlowFarneback(greys[a], greys[b], None, 0.5, 3, 9, 3, 5, 1.1, 0).reshape(-1, 2)
        # Sobel's 3x3 kernel weighs a one-level step by 8
        gradient = np.hypot(cv2.Sobel(greys[a], cv2.CV_32F, 1, 0), cv2.Sobel(greys[a], cv2.CV_32F, 0, 1)) / 8
        textured = gradient.ravel() > _TEXTURE
        if textured.sum() < 3:
            continue
        affine, _ = cv2.estimateAffine2D(
            points[textured], points[textured] + flow[textured], method=cv2.RANSAC, ransacReprojThreshold=_LOCAL_PX
        )
        dominant = points @ affine[:, :2].T + affine[:, 2] - points if affine is not None else np.zeros_like(flow)
        own = (np.linalg.norm(flow - dominant, axis=1) > _LOCAL_PX) & (np.linalg.norm(flow, axis=1) > _LOCAL_PX)
        moving = max(moving, float((own & textured).mean()))
    return moving


def crop(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 frame -> 224x224 centre crop of the frame scaled to a 256-pixel short side, uint8."""
    h, w = frame.shape[:2]
    scale = _RESIZE_SHORT / min(h, w)
    small = cv2.resize(
        frame, (max(MODEL_SIZE, round(w * scale)), max(MODEL_SIZE, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    y, x = (small.shape[0] - MODEL_SIZE) // 2, (small.shape[1] - MODEL_SIZE) // 2
    return small[y : y + MODEL_SIZE, x : x + MODEL_SIZE]


class ActionModel:
    """The I3D session and its 400 labels. Input uint8 windows [B, T, 224, 224, 3]; output softmax [B, 400]."""

    def __init__(self, model: Path, labels: Path, key: str, provider: str | None = None, threads: int = 0):
        self.key = key  # names the model's files (edge.modelfiles.model_key): part of the visual index key
        self.labels = [line.strip() for line in Path(labels).read_text().splitlines() if line.strip()]
        self._path, self._provider, self._threads = Path(model), provider, threads

    @cached_property
    def _session(self):
        return open_session(self._path, self._provider, self._threads)

    @cached_property
    def batch(self) -> int:
        """Windows per run: one on CPU (a batch is no faster there and holds 4x the memory), 8 on a GPU."""
        return 1 if self._session.get_providers()[0] == "CPUExecutionProvider" else 8

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        video = windows.astype(np.float32) * (2.0 / 255.0) - 1.0
        logits = self._session.run(["logits"], {"video": video})[0]
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    probabilities: np.ndarray | None  # [400] top-k kept, the rest 0; None: skipped (no motion, or a cut)


class ActionWindows:
    """Consumes the dense frames of one video; classifies one moving window every `every_s` seconds.

    The model runs on a thread of its own (started by the first moving window, at the caller's CPU priority),
    so on two cores it overlaps the frame models instead of adding to them; at most two batches wait for it.
    """

    def __init__(self, model: ActionModel, every_s: float, motion_threshold: float = 4.0):
        self.model, self.every_s, self.motion_threshold = model, every_s, motion_threshold
        self.windows: list[Window] = []
        self.seconds = 0.0  # time spent in the model, for the index log
        self._frames: list[np.ndarray] = []
        self._times: list[float] = []
        self._thumbs: list[np.ndarray] = []
        self._greys: list[np.ndarray] = []
        self._next_start = 0.0
        self._pending: list[tuple[float, float, np.ndarray]] = []
        self._running: list[tuple[list, Future]] = []
        self._pool: ThreadPoolExecutor | None = None

    def feed(self, t: float, frame: np.ndarray) -> None:
        if not self._frames:
            if t + 1e-6 < self._next_start:
                return
            # Windows start on a fixed grid, as the decoder's bursts do (edge.decode.sample_frames).
            self._next_start += self.every_s * max(1, int((t - self._next_start) / self.every_s) + 1)
        elif t - self._times[-1] < 0.5 / WINDOW_FPS:
            return  # denser than the window rate: keep frames ~1/WINDOW_FPS apart
        elif t - self._times[-1] > 2.0 / WINDOW_FPS:  # a gap (a source under 6 fps): not one motion, dropped
            self._frames, self._times, self._thumbs, self._greys = [], [], [], []
            return
        small = cv2.resize(frame, _FLOW_SIZE, interpolation=cv2.INTER_AREA)
        # the 32x18 cells averaged from the flow-sized copy, not the frame: the same means within a grey level,
        # at a thirtieth of the cost (one full-frame resize per dense frame instead of two)
        self._thumbs.append(thumbnail(small))
        self._greys.append(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        self._frames.append(frame)
        self._times.append(t)
        if len(self._frames) == WINDOW_FRAMES:
            self._close_window()

    def _close_window(self) -> None:
        start, end = self._times[0], self._times[-1] + 1.0 / WINDOW_FPS
        if self._moving():
            self._pending.append((start, end, np.stack([crop(f) for f in self._frames])))
            if len(self._pending) >= self.model.batch:
                self._classify()
        else:
            self.windows.append(Window(start, end, None))
        self._frames, self._times, self._thumbs, self._greys = [], [], [], []

    def _moving(self) -> bool:
        steps = [np.abs(b - a) for a, b in zip(self._thumbs, self._thumbs[1:])]
        if max(float(s.max()) for s in steps) <= self.motion_threshold:
            return False  # the change gate's measure: nothing changed
        if max(float(s.mean()) for s in steps) > _CUT_LEVEL:
            return False
        return local_motion(self._greys) >= _MIN_LOCAL_MOTION

    def _classify(self) -> None:
        if not self._pending:
            return
        if len(self._running) >= 2:  # bounded memory: wait for the oldest batch
            self._collect(*self._running.pop(0))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="actions")
        batch, self._pending = self._pending, []
        self._running.append((batch, self._pool.submit(self._run, np.stack([clip for _, _, clip in batch]))))

    def _run(self, clips: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        return self.model.probabilities(clips), time.perf_counter() - t0

    def _collect(self, batch: list, future: Future) -> None:
        probs, seconds = future.result()
        self.seconds += seconds
        for (start, end, _), p in zip(batch, probs):
            kept = np.zeros_like(p)
            top = np.argpartition(p, -_TOP_K)[-_TOP_K:]
            top = top[p[top] >= _MIN_PROBABILITY]
            kept[top] = p[top]
            self.windows.append(Window(start, end, kept))
            log.debug(
                "event=action_window start=%.2f end=%.2f top=%s p=%.2f",
                start,
                end,
                self.model.labels[int(np.argmax(p))],
                float(p.max()),
            )

    def finish(self) -> list[Window]:
        """Every window, in time order (a window cut short by the video's end is dropped)."""
        self._classify()
        for batch, future in self._running:
            self._collect(batch, future)
        self._running = []
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._frames, self._times, self._thumbs, self._greys = [], [], [], []
        self.windows.sort(key=lambda w: w.start)
        return self.windows

    @property
    def classified(self) -> int:
        return sum(w.probabilities is not None for w in self.windows)


def sample_weights(
    windows: list[Window], starts: np.ndarray, ends: np.ndarray, every_s: float, n_labels: int
) -> np.ndarray:
    """[n_samples, n_labels] action weights: each sample takes the window nearest to it (centre to centre,
    within half the window spacing), so a window speaks for the stretch of video around it."""
    weights = np.zeros((len(starts), n_labels), np.float32)
    if not windows:
        return weights
    centres = np.array([(w.start + w.end) / 2 for w in windows])
    reach = max(every_s, windows[0].end - windows[0].start) / 2
    mids = (np.asarray(starts) + np.asarray(ends)) / 2
    # The nearest centre by bisection (windows come in time order; a tie goes to the earlier one): a samples x
    # windows distance table was 5 GiB at the end of a 10-hour file.
    after = np.searchsorted(centres, mids)
    before, after = np.maximum(after - 1, 0), np.minimum(after, len(centres) - 1)
    nearest = np.where(np.abs(mids - centres[before]) <= np.abs(mids - centres[after]), before, after)
    for i, w in enumerate(nearest):
        window = windows[w]
        if window.probabilities is not None and abs(mids[i] - centres[w]) <= reach:
            weights[i] = window.probabilities
    return weights
