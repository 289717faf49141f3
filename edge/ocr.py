"""On-screen text from sampled frames: PP-OCRv6 (detect -> recognise) run only where the picture changed.

Reading every 1 fps sample costs ~0.2 CPU-s per video-second at 720p even with detection at 640 px
(RapidOCR's defaults: ~0.7). Captions, signs and logos stay put for seconds, so `TextReader` pays
for OCR only where text can have changed:

  1. every sample (~2 ms): each known line is looked up by template matching in a 640 px grey copy
     of the frame (a small search window follows slow drift), and edge energy per cell is compared
     with the previous sample's neighbourhood maximum, which camera motion and grain barely move but
     text appearing moves a lot;
  2. if a line changed or vanished, or edges appeared: detection in full-width bands of rows around
     those places (~25 ms for a subtitle band instead of ~100 ms for the frame); the whole frame on a
     cut, or at least every `max_gap_s` whatever the gate says;
  3. recognition only of detected lines that are not a verified-unchanged line (its text carries over).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.runtime import open_session
from edge.text_track import Reading, TextSpan, TextTracker

__all__ = ["OcrEngine", "TextReader", "TextSpan", "Reading"]

MODEL = "ocr-ppocrv6"
_REC_H = 48  # the recogniser's input height


class OcrEngine:
    """PP-OCRv6 detection + recognition (+ the optional 0/180 degree classifier) on our own sessions.

    RapidOCR's classes would download any model whose path is missing and leave onnxruntime's idle
    threads spinning; so the sessions come from edge.runtime (verified store paths, no spinning,
    `threads` intra-op threads) and only RapidOCR's pure post-processing is reused. Call it like
    RapidOCR: `engine(frame)` -> [Reading]; `detect`/`crop`/`recognize` are the steps.
    rgb=True: frames arrive in RGB order (edge.decode.sample_frames); the models want BGR.
    """

    def __init__(
        self,
        det_path: Path,
        rec_path: Path,
        cls_path: Path | None = None,
        *,
        threads: int = 1,
        det_side: int = 640,
        min_score: float = 0.5,
        rgb: bool = False,
        provider: str | None = None,
    ):
        for path in filter(None, (det_path, rec_path, cls_path)):
            if not Path(path).is_file():
                raise FileNotFoundError(f"OCR model file missing: {path} (run `edge models install`)")
        # Lazily: rapidocr pulls in shapely/pyclipper, which only OCR needs. Its post-processing never downloads.
        from rapidocr.ch_ppocr_det.utils import DBPostProcess
        from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode
        from rapidocr.utils.process_img import get_rotate_crop_image

        # CPU unless a provider is named: gated OCR is cheap there, the GPU stays with the visual encoder, and
        # inputs change shape with every text width (TensorRT would rebuild engines; CUDA is untested with it).
        provider = provider or "cpu"
        # On a GPU the three run one after another: one OCR stage, one CUDA stream (edge.streams).
        self._det = open_session(Path(det_path), provider, threads, stage="ocr")
        self._rec = open_session(Path(rec_path), provider, threads, stage="ocr")
        self._cls = open_session(Path(cls_path), provider, threads, stage="ocr") if cls_path else None
        chars = self._rec.get_modelmeta().custom_metadata_map.get("character")
        if not chars:  # RapidOCR would fetch a character table from the network here
            raise ValueError(f"{rec_path} carries no character table; not a PP-OCR recogniser from the store")
        self._decode = CTCLabelDecode(character=chars.splitlines())
        self._boxes = DBPostProcess(thresh=0.3, box_thresh=0.5, unclip_ratio=1.6, use_dilation=True)
        self._warp = get_rotate_crop_image
        self.det_side, self.min_score, self.rgb = det_side, min_score, rgb

    @classmethod
    def from_store(cls, models_dir: Path, *, use_cls: bool = False, **kwargs) -> OcrEngine:
        """The engine on the verified store's files (sha256-checked; a missing file raises IntegrityError)."""
        from edge.modelfiles import model_path

        paths = [model_path(models_dir, MODEL, f"{name}.onnx") for name in ("det", "rec")]
        return cls(*paths, model_path(models_dir, MODEL, "cls.onnx") if use_cls else None, **kwargs)

    def _tensor(self, img: np.ndarray) -> np.ndarray:
        x = img[..., ::-1] if self.rgb else img
        return ((x.astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1)

    def detect(self, frame: np.ndarray, rows: tuple[int, int] | None = None) -> np.ndarray:
        """Text line quadrilaterals (N, 4, 2) in frame pixels, found in the frame scaled to `det_side` px
        (small frames are scaled up: small text needs the pixels), or in a band of its rows at that scale."""
        s = self.det_side / max(frame.shape[:2])
        y0 = rows[0] if rows else 0
        img = frame[rows[0] : rows[1]] if rows else frame
        h, w = img.shape[:2]
        size = (max(32, round(w * s / 32) * 32), max(32, round(h * s / 32) * 32))
        x = self._tensor(cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR))
        pred = self._det.run(None, {self._det.get_inputs()[0].name: x[None]})[0]
        quads, _ = self._boxes(pred, (h, w))  # DB maps its probability map back to these pixels
        quads = np.asarray(quads, np.float32).reshape(-1, 4, 2) + np.array([0, y0], np.float32)
        # DB now and then outlines a whole smooth picture; no line of text is a third of the frame tall.
        sides = np.linalg.norm(quads[:, [3, 1]] - quads[:, [0, 0]], axis=2)  # (N, 2): height, width
        thick = sides.min(axis=1)
        return quads[thick < min(frame.shape[:2]) / 3]

    def crop(self, frame: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """The line straightened out of the full-resolution frame (recognition needs the detail)."""
        return self._warp(frame, quad.astype(np.float32).copy())

    def _orient(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        x = np.zeros((len(crops), 3, 48, 192), np.float32)
        for i, c in enumerate(crops):
            w = min(192, int(np.ceil(48 * c.shape[1] / c.shape[0])))
            x[i, :, :, :w] = self._tensor(cv2.resize(c, (w, 48)))
        probs = self._cls.run(None, {self._cls.get_inputs()[0].name: x})[0]
        return [cv2.rotate(c, cv2.ROTATE_180) if p[1] > 0.9 else c for c, p in zip(crops, probs)]

    def recognize(self, crops: list[np.ndarray], batch: int = 6) -> list[tuple[str, float]]:
        """(text, confidence) per crop. Similar widths are batched together so little is padding."""
        if self._cls is not None and crops:
            crops = self._orient(crops)
        ratios = [c.shape[1] / max(c.shape[0], 1) for c in crops]
        order = np.argsort(ratios)
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for b in range(0, len(crops), batch):
            idx = order[b : b + batch]
            width = int(np.ceil(_REC_H * max(ratios[i] for i in idx)))
            x = np.zeros((len(idx), 3, _REC_H, width), np.float32)
            for k, i in enumerate(idx):
                w = min(width, max(1, int(np.ceil(_REC_H * ratios[i]))))
                x[k, :, :, :w] = self._tensor(cv2.resize(crops[i], (w, _REC_H)))
            preds = self._rec.run(None, {self._rec.get_inputs()[0].name: x})[0]
            for i, (text, score) in zip(idx, self._decode(preds)[0]):
                out[i] = (text, float(score))
        return out

    def __call__(self, frame: np.ndarray) -> list[Reading]:
        quads = self.detect(frame)
        texts = self.recognize([self.crop(frame, q) for q in quads])
        return [
            Reading(text.strip(), score, _rect(q))
            for q, (text, score) in zip(quads, texts)
            if text.strip() and score >= self.min_score
        ]


def _rect(quad: np.ndarray) -> tuple[int, int, int, int]:
    (x0, y0), (x1, y1) = quad.min(axis=0), np.ceil(quad.max(axis=0))
    return int(x0), int(y0), int(x1), int(y1)


@dataclass(eq=False)  # compared by identity
class _Region:
    """A detected line: where it is in the gate image, what it looked like then, and what it says."""

    quad: np.ndarray  # frame pixels, as detected
    rect: tuple[int, int, int, int]  # gate pixels, as detected
    templ: np.ndarray  # the gate image inside `rect` at detection time
    text: str | None  # None: nothing readable (a texture the detector liked); not re-read while unchanged
    score: float
    shift: tuple[int, int] = (0, 0)  # where template matching last found it, relative to `rect`


class TextReader:
    """Timed on-screen text of one video from its samples, fed in time order.

    step: seconds between samples (1 / sample_fps). gate=False OCRs every sample (for comparison).
    """

    GATE_W = 640  # the gate's grey image width; templates are matched at this scale
    CELLS = (64, 36)  # edge-energy grid: cells of 20 px at 720p, about a line of small text

    def __init__(
        self,
        engine: OcrEngine,
        step: float,
        *,
        gate: bool = True,
        max_gap_s: float = 10.0,
        search_px: int = 8,
        match_min: float = 0.8,
        energy_abs: float = 10.0,
        energy_rel: float = 0.8,
    ):
        self.engine, self.step, self.gate, self.max_gap_s = engine, step, gate, max_gap_s
        self.search_px, self.match_min, self.energy_abs, self.energy_rel = search_px, match_min, energy_abs, energy_rel
        self.tracker = TextTracker(step)
        self._regions: list[_Region] = []
        self._energy: np.ndarray | None = None
        self._last_full = -np.inf  # a whole-frame detection at least every max_gap_s, whatever the gate says
        # ocr_samples: samples that ran detection (band_det of them in bands only); why_*: what made them.
        self.stats = {
            "samples": 0,
            "ocr_samples": 0,
            "band_det": 0,
            "why_gap": 0,
            "why_text": 0,
            "why_edges": 0,
            "detected": 0,
            "recognised": 0,
            "reused": 0,
            "det_s": 0.0,
            "rec_s": 0.0,
            "gate_s": 0.0,
        }

    def feed(self, t: float, frame: np.ndarray) -> None:
        t0 = time.perf_counter()
        self.stats["samples"] += 1
        h, w = frame.shape[:2]
        self._scale = self.GATE_W / w
        self._gate_h = max(1, round(h * self._scale))
        to_grey = cv2.COLOR_RGB2GRAY if self.engine.rgb else cv2.COLOR_BGR2GRAY
        grey = cv2.resize(cv2.cvtColor(frame, to_grey), (self.GATE_W, self._gate_h), interpolation=cv2.INTER_AREA)
        energy = self._cell_energy(grey)
        kept = [r for r in self._regions if r.text and self._still_there(r, grey)] if self.gate else []
        lost = [r for r in self._regions if r.text and r not in kept]
        new = self._new_edges(energy, kept) if self.gate and self._energy is not None else None
        why = (
            "off"
            if not self.gate
            else "gap"
            if t - self._last_full >= self.max_gap_s
            else "text"
            if lost
            else "edges"
            if new.any()
            else None
        )
        if why and self.gate:
            self.stats[f"why_{why}"] += 1
        bands = self._bands(lost, new, h, w) if why in ("text", "edges") else None
        self.stats["gate_s"] += time.perf_counter() - t0
        if why:
            self._ocr(t, frame, grey, kept, bands)
        else:  # nothing can have changed: every known text is still on screen as it was
            self.tracker.update(
                t, [Reading(r.text, r.score, self._frame_box(r), fresh=False) for r in self._regions if r.text]
            )
        self._energy, self._text_mask = energy, self._text_cells([r for r in self._regions if r.text])

    def finish(self, duration: float) -> list[TextSpan]:
        return self.tracker.finish(duration)

    # -- the gate -------------------------------------------------------------------------------

    def _cell_energy(self, grey: np.ndarray) -> np.ndarray:
        """Mean gradient magnitude per cell: text is dense, sharp edges (at 640 px, 14 px text still shows)."""
        g = np.abs(cv2.Sobel(grey, cv2.CV_16S, 1, 0)).astype(np.float32) + np.abs(cv2.Sobel(grey, cv2.CV_16S, 0, 1))
        return cv2.resize(g, self.CELLS, interpolation=cv2.INTER_AREA)

    def _text_cells(self, regions: list[_Region]) -> np.ndarray:
        mask = np.zeros(self.CELLS[::-1], bool)
        cw, ch = self.GATE_W / self.CELLS[0], self._gate_h / self.CELLS[1]
        for r in regions:
            x0, y0, x1, y1 = self._moved(r)
            mask[max(int(y0 // ch), 0) : int(np.ceil(y1 / ch)), max(int(x0 // cw), 0) : int(np.ceil(x1 / cw))] = True
        return mask

    def _new_edges(self, energy: np.ndarray, kept: list[_Region]) -> np.ndarray:
        """Cells where edges appeared since the previous sample that no verified line explains.

        Each cell is compared with the strongest cell around it in the previous sample, so edges that
        camera motion carried up to a cell away are not new; known text is left out of that reference
        (a caption must not hide a new one just above it) and out of the test (its template covers it).
        Only appearing edges count: text that vanished fails its region's check instead.
        """
        near = cv2.dilate(np.where(self._text_mask, 0, self._energy), np.ones((3, 3), np.uint8))
        diff = energy > near * (1 + self.energy_rel) + self.energy_abs
        return diff & ~self._text_cells(kept)

    def _bands(self, lost: list[_Region], cells: np.ndarray, h: int, w: int) -> list[tuple[int, int]] | None:
        """Frame rows worth detecting again: around vanished or changed texts and new edges, full width
        (a new caption may be longer). None: most of the frame changed, detect all of it."""
        spans = []
        for r in lost:  # a line above and below: the next caption may sit a little higher
            _, y0, _, y1 = self._frame_box(r)
            spans.append([2 * y0 - y1, 2 * y1 - y0])
        ch = h / self.CELLS[1]
        spans += [[int((row - 1) * ch), int((row + 2) * ch)] for row in np.nonzero(cells.any(axis=1))[0]]
        # The detector needs context around a line: at least 96 rows of its input (~190 px at 720p).
        least = 96 * max(h, w) / self.engine.det_side
        for b in spans:
            grow = max(0.0, least - (b[1] - b[0])) / 2
            b[0], b[1] = int(b[0] - grow), int(b[1] + grow)
        boxes = [self._frame_box(r) for r in self._regions]
        for _ in range(2):  # grow over every known line a band cuts, so none is detected in halves
            for b in spans:
                for _, y0, _, y1 in boxes:
                    if y0 < b[1] and y1 > b[0]:
                        b[0], b[1] = min(b[0], y0 - 2), max(b[1], y1 + 2)
        merged: list[list[int]] = []
        for y0, y1 in sorted((max(a, 0), min(b, h)) for a, b in spans):
            if merged and y0 <= merged[-1][1] + 16:
                merged[-1][1] = max(merged[-1][1], y1)
            else:
                merged.append([y0, y1])
        if sum(y1 - y0 for y0, y1 in merged) > 0.5 * h:
            return None
        return [(y0, y1) for y0, y1 in merged]

    def _still_there(self, r: _Region, grey: np.ndarray) -> bool:
        """Is the region's text where we last saw it (within `search_px`), with the same contrast?"""
        x0, y0, x1, y1 = r.rect
        p = self.search_px
        wx0, wy0 = max(x0 + r.shift[0] - p, 0), max(y0 + r.shift[1] - p, 0)
        window = grey[wy0 : y1 + r.shift[1] + p, wx0 : x1 + r.shift[0] + p]
        th, tw = r.templ.shape
        if window.shape[0] < th or window.shape[1] < tw:
            return False  # moving off the frame
        res = cv2.matchTemplate(window, r.templ, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(res)
        found = window[by : by + th, bx : bx + tw]
        # Normalised correlation ignores contrast: a fading caption would still match without this.
        contrast = (found.std() + 1) / (r.templ.std() + 1)
        if best < self.match_min or not 0.6 < contrast < 1.6:
            return False
        r.shift = (wx0 + bx - x0, wy0 + by - y0)
        return True

    # -- OCR where needed -----------------------------------------------------------------------

    def _ocr(
        self,
        t: float,
        frame: np.ndarray,
        grey: np.ndarray,
        kept: list[_Region],
        bands: list[tuple[int, int]] | None = None,
    ) -> None:
        """Detect in the whole frame or in `bands` of rows; lines elsewhere stay as they were."""
        s = self.stats
        s["ocr_samples"] += 1
        t0 = time.perf_counter()
        if bands is None:
            quads, outside = self.engine.detect(frame), []
        else:
            s["band_det"] += 1
            quads = np.concatenate([self.engine.detect(frame, b) for b in bands])

            def inside(r: _Region) -> bool:
                return any(self._frame_box(r)[1] < y1 and self._frame_box(r)[3] > y0 for y0, y1 in bands)

            outside = [r for r in self._regions if not inside(r)]
            kept = [r for r in kept if inside(r)]
        s["det_s"] += time.perf_counter() - t0
        s["detected"] += len(quads)
        # Unreadable boxes (textures) are not re-read while they look the same either.
        known = (
            kept + [r for r in self._regions if not r.text and r not in outside and self._still_there(r, grey)]
            if self.gate
            else []
        )
        regions, todo = [], []
        for q in quads:
            rect = self._gate_rect(q, grey.shape)
            if rect[2] - rect[0] < 2 or rect[3] - rect[1] < 2:
                continue
            region = _Region(q, rect, grey[rect[1] : rect[3], rect[0] : rect[2]].copy(), None, 0.0)
            same = self._unchanged_match(region, known)
            if same is not None:
                region.text, region.score = same.text, same.score
                s["reused"] += 1
            else:
                todo.append(region)
            regions.append(region)
        if todo:
            t0 = time.perf_counter()
            texts = self.engine.recognize([self.engine.crop(frame, r.quad) for r in todo])
            s["rec_s"] += time.perf_counter() - t0
            s["recognised"] += len(todo)
            for r, (text, score) in zip(todo, texts):
                if text.strip() and score >= self.engine.min_score:
                    r.text, r.score = text.strip(), score
        # A verified text the detector missed this time is still there: keep it rather than split its span.
        covered = [r for r in kept if not any(_iou(self._moved(r), g.rect) > 0.3 for g in regions)]
        self._regions = regions + covered + outside
        if bands is None:
            self._last_full = t
        fresh = {id(r) for r in todo}
        self.tracker.update(
            t, [Reading(r.text, r.score, self._frame_box(r), fresh=id(r) in fresh) for r in self._regions if r.text]
        )

    def _unchanged_match(self, new: _Region, known: list[_Region]) -> _Region | None:
        """A verified region this box is (same place, same size): its text is this box's text."""
        for old in known:
            x0, y0, x1, y1 = self._moved(old)
            if (
                _iou((x0, y0, x1, y1), new.rect) > 0.6
                and abs((x1 - x0) - (new.rect[2] - new.rect[0])) <= 0.12 * (x1 - x0) + 2
            ):
                return old
        return None

    def _gate_rect(self, quad: np.ndarray, shape) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = (np.array(_rect(quad)) * self._scale).round().astype(int)
        return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])

    @staticmethod
    def _moved(r: _Region) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = r.rect
        return x0 + r.shift[0], y0 + r.shift[1], x1 + r.shift[0], y1 + r.shift[1]

    def _frame_box(self, r: _Region) -> tuple[int, int, int, int]:
        dx, dy = r.shift[0] / self._scale, r.shift[1] / self._scale
        x0, y0, x1, y1 = _rect(r.quad)
        return int(x0 + dx), int(y0 + dy), int(x1 + dx), int(y1 + dy)


def _iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
