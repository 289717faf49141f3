"""The offline default ImageEncoder: ImageNet + COCO (+ Kinetics) label probabilities mixed into text space (ConSE).

No CLIP-class weights can be had offline, so a frame is represented by what two closed-set models
see in it: EfficientNet-Lite3 (ImageNet-1k classes) and SSD-MobileNet-v2 (COCO objects). Each label's
name is embedded once by the text encoder; the frame vector is the confidence-weighted mix of those
label embeddings (Norouzi et al., ICLR 2014), so free-text prompts embedded by the same text encoder
compare with frames by cosine. With an action model (edge.actions) the 400 Kinetics action names join
the label set: the indexer adds each sample's action weights to its frame weights before the mix, so one
prompt matches objects, scenes and actions alike.

The classifier names one thing per picture and sees a wide frame squeezed into a square, so a frame with
a flower left and a car right came out as "hair slide". A wide (or tall) frame is therefore classified as its
two end squares (left and right, or top and bottom; they overlap in the middle); each label keeps its best
probability over the views, the top-k of each view. On the development set's fit part the squeezed whole
frame added nothing beside them (AP 0.72 with it, 0.71 without; 0.66 whole only) for half again the cost.

A label's embedding is its name's plus its WordNet hypernyms' (HYPERNYM_WEIGHT**depth each, HYPERNYM_SHARE in
all; edge/data/label_hypernyms.json, scripts/label_hierarchy.py): by name alone "a flower" was nearer "vase" than
"daisy" and "a tiger" nearer "tiger beetle" than "tiger"; with them a daisy is a flower and a tiger a big cat.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from edge.actions import ActionModel
from edge.encoders import TextEncoder, l2_normalise
from edge.modelfiles import DATA_DIR
from edge.runtime import on_gpu, open_session, run_on_device, stage

HYPERNYMS = DATA_DIR / "label_hypernyms.json"
HYPERNYM_WEIGHT = 0.8  # per level up: the development set's fit part ranked classes best at 0.8 (0.6-1.0 alike)
# All hypernyms together weigh this much beside the name (both unit vectors): unbounded, a label's many general
# ancestors (espresso -> coffee -> beverage -> food, liquid -> substance, fluid -> matter ...) outweighed its name
# and a real photo of an espresso fell from 77 to 32 for "a cup of coffee" (63 at this share).
HYPERNYM_SHARE = 0.7

_TOP_K = 5  # ImageNet labels kept per view of a frame: the tail of the softmax is noise
# The kept probabilities enter the mix as p ** CLASSIFIER_POWER: the softmax is overconfident, so at p itself a
# frame was its top label alone, and a right second guess ("anemone fish" at 0.2 behind "coral reef") counted
# for little. On the development set's fit part, video AP (peak z-score, all classes pooled, frame labels only)
# 0.696 at 1, 0.720 at 0.7, 0.726 at 0.5, 0.719 at 0.35, 0.708 at 0.25 (detections kept as they are).
CLASSIFIER_POWER = 0.5
_MIN_DETECTION = 0.35  # SSD class scores below this are mostly false positives
# A detection's weight in the mix beside the classifier's probabilities: a class's score is its best anchor's
# sigmoid over ~1,900 anchors, which runs high on things that are not there (seen: "bird" 0.9-1.0 on flowers and
# fish, "zebra" on a tiger) and at full weight pulled frames away from what the classifier saw. On the development
# set's fit part, video AP (peak z-score, all classes pooled) 0.716 at 1, 0.759 at 0.5, 0.760 at 0.3, 0.726 at 0.
DETECTION_WEIGHT = 0.5
# ...except where the detector is the only witness: ImageNet-1k has no class for people in general (a groom, a
# scuba diver, a ballplayer), and at 0.5 "a portrait of a person" on the calibration's astronaut fell from 90 to 79.
FULL_WEIGHT_DETECTIONS = ("person",)
_CLASSIFIER_SIZE = 280  # EfficientNet-Lite3's fixed input
_VIEWS_ASPECT = 1.3  # a frame at least this elongated is classified as its two end squares
_DETECTOR_SIZE = 300  # SSD-MobileNet-v2's input
DETECTOR_INPUT = "Preprocessor/sub:0"


def _load_imagenet_labels(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _load_coco_labels(path: Path) -> dict[int, str]:
    labels = {}
    for line in path.read_text().splitlines():
        if line.strip():
            class_id, name = line.split("\t", 1)
            labels[int(class_id)] = name.strip()
    return labels


def views(shape: tuple[int, ...], split: bool = True) -> list[tuple[slice, slice]]:
    """(rows, cols) of the parts of a frame the classifier sees: the whole frame, or for an elongated one its
    two end squares (unless `split` is off: EDGE_FRAME_VIEWS=off, the whole frame squeezed into a square)."""
    h, w = shape[:2]
    side = min(h, w)
    if not split or max(h, w) < _VIEWS_ASPECT * side:
        return [(slice(0, h), slice(0, w))]
    if w > h:
        return [(slice(0, h), slice(0, side)), (slice(0, h), slice(w - side, w))]
    return [(slice(0, side), slice(0, w)), (slice(h - side, h), slice(0, w))]


def detector_input(frames: Sequence[np.ndarray]) -> np.ndarray:
    """RGB uint8 frames -> the SSD detector's input batch: 300 x 300, scaled to [-1, 1]."""
    small = [cv2.resize(f, (_DETECTOR_SIZE, _DETECTOR_SIZE), interpolation=cv2.INTER_AREA) for f in frames]
    return np.stack(small).astype(np.float32) * (2.0 / 255.0) - 1.0


def _keep_top(row: np.ndarray, probs: np.ndarray) -> None:
    """One view's top-k ImageNet probabilities (to CLASSIFIER_POWER) into a frame's weights, each label at its best
    over the views."""
    top = np.argpartition(probs, -_TOP_K)[-_TOP_K:]
    row[top] = np.maximum(row[top], probs[top] ** CLASSIFIER_POWER)


class ConseImageEncoder:
    def __init__(
        self,
        classifier: Path,
        classifier_labels: Path,
        detector: Path,
        detector_labels: Path,
        text_encoder: TextEncoder,
        cache_dir: Path,
        provider: str | None = None,
        threads: int = 0,
        actions: ActionModel | None = None,
        action_every_s: float = 0.0,
        split_views: bool = True,
    ):
        self.dim = text_encoder.dim
        self.split_views = split_views
        imagenet = _load_imagenet_labels(classifier_labels)
        coco = _load_coco_labels(detector_labels)
        self._coco_ids = np.array(sorted(coco))
        self._detection_weights = np.array(
            [1.0 if coco[c] in FULL_WEIGHT_DETECTIONS else DETECTION_WEIGHT for c in sorted(coco)], np.float32
        )
        self._coco_columns = len(imagenet) + np.arange(len(coco))
        names = imagenet + [coco[c] for c in sorted(coco)]
        # Action columns come last; frames leave them 0 and the indexer fills them from action windows.
        self.actions, self.action_every_s = actions, action_every_s if actions else 0.0
        self.action_columns = slice(len(names), len(names) + len(actions.labels) if actions else len(names))
        hypernyms = json.loads(HYPERNYMS.read_text())
        # the table's lists follow the classifier's and the detector's label order; Kinetics actions have none
        self._hypernyms = (
            hypernyms["imagenet"] + hypernyms["coco"] if len(hypernyms["imagenet"]) == len(imagenet) else []
        )
        names += actions.labels if actions else []
        self.label_vectors = self._label_embeddings(names, self._hypernyms, text_encoder, cache_dir)
        self._model_paths, self._provider, self._threads = (classifier, detector), provider, threads
        shape = "\n".join(names) + json.dumps(self._hypernyms)
        shape += f"{HYPERNYM_WEIGHT:g} {HYPERNYM_SHARE:g} views {f'ends {_VIEWS_ASPECT:g}' if split_views else 'off'}"
        shape += f" detections {DETECTION_WEIGHT:g} but {','.join(FULL_WEIGHT_DETECTIONS)}"
        shape += f" power {CLASSIFIER_POWER:g}" if CLASSIFIER_POWER != 1 else ""
        digest = hashlib.sha256(shape.encode()).hexdigest()[:8]
        # Everything that shapes a stored vector is in the key: turning actions on or off, or another window
        # rate, re-indexes (with actions off it is the key of the frame labels alone, as before).
        # The CPU copies (edge.install.quantize) give slightly other numbers than the models as converted.
        models = "lite3u8" if classifier.name in ("model.u8.onnx", "model.u8u.onnx") else "lite3"
        models += "-ssd8" if detector.name in ("model.int8.onnx", "model.int8u.onnx") else "-ssd"  # the same outputs
        self.key = f"conse-{models}-{text_encoder.key}-{digest}"
        if actions:
            self.key += f"+{actions.key}-every{self.action_every_s:g}s"

    @cached_property
    def _classifier(self):
        # Sessions open on first use: classifying stored segments never needs them.
        return open_session(self._model_paths[0], self._provider, self._threads)

    @cached_property
    def _detector(self):
        return open_session(self._model_paths[1], self._provider, self._threads)

    @staticmethod
    def _label_embeddings(
        names: list[str], hypernyms: list[list], text_encoder: TextEncoder, cache_dir: Path
    ) -> np.ndarray:
        """[n_labels, dim]: each name's embedding plus HYPERNYM_SHARE x the unit sum of its hypernyms' (each
        weighted HYPERNYM_WEIGHT**depth), unit length (hypernyms[i] lists label i's [depth, name] pairs; labels
        past its end have none)."""
        shape = "\n".join(names) + json.dumps(hypernyms) + f"{HYPERNYM_WEIGHT:g} {HYPERNYM_SHARE:g}" + text_encoder.key
        digest = hashlib.sha256(shape.encode()).hexdigest()[:16]
        cache = cache_dir / f"label-embeddings-{digest}.npy"
        if cache.is_file():
            return np.load(cache)
        vectors = text_encoder.encode(names)
        general = sorted({name for pairs in hypernyms for _, name in pairs})
        if general:
            embedded = dict(zip(general, text_encoder.encode(general)))
            for i, pairs in enumerate(hypernyms):
                if pairs:
                    general_part = sum(HYPERNYM_WEIGHT**depth * embedded[name] for depth, name in pairs)
                    vectors[i] += HYPERNYM_SHARE * general_part / np.linalg.norm(general_part)
            vectors = l2_normalise(vectors)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(cache)
        return vectors

    @cached_property
    def device_frames(self) -> bool:
        """True when frames may stay in GPU memory (edge.nvdec.DeviceFrame): both models run on a GPU."""
        return on_gpu(self._classifier) and on_gpu(self._detector)

    @property
    def batch(self) -> int:
        """Frames per encode call the indexer should gather: a GPU wants more of them than a CPU."""
        return 32 if self.device_frames else 8

    def label_weights(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """[n_frames, n_labels] confidences: top-k ImageNet probabilities and per-class best COCO detection."""
        weights = np.zeros((len(frames), len(self.label_vectors)), np.float32)
        if not frames:
            return weights
        on_device = not isinstance(frames[0], np.ndarray)  # edge.nvdec.DeviceFrame: resized on the GPU
        classify, detect = (self._device_classify, self._device_detect) if on_device else (self._classify, self._detect)
        jobs = [
            (i, rows, cols) for i, frame in enumerate(frames) for rows, cols in views(frame.shape, self.split_views)
        ]
        probs: list = [None] * len(jobs)
        todo, taking = iter(range(len(jobs))), threading.Lock()

        def classify_views() -> None:
            while True:
                with taking:
                    k = next(todo, None)
                if k is None:
                    return
                i, rows, cols = jobs[k]
                probs[k] = classify(frames[i], rows, cols)

        # The detector runs on a thread of its own beside the classifier (both release the GIL; on a GPU each
        # model has its own CUDA stream); on a CPU that thread then takes views too, so the two cores share the
        # classifier's views (alone on one thread, three views a frame held a 720p index to 9.5x realtime). A new
        # thread per batch inherits the caller's (background) priority.
        detected: list = []
        failed: list[BaseException] = []

        def detect_thread():
            try:
                detected.append(detect(frames))
                if not on_device:
                    classify_views()
            except BaseException as exc:  # re-raised below, in the caller's thread
                failed.append(exc)

        detector = threading.Thread(target=detect_thread, name="detector")
        detector.start()
        with stage(self._classifier) if on_device else contextlib.nullcontext():
            classify_views()
        detector.join()
        if failed:
            raise failed[0]
        for (i, _, _), view_probs in zip(jobs, probs):
            _keep_top(weights[i], view_probs)
        weights[:, self._coco_columns] = self._detection_weights * detected[0]
        return weights

    def _classify(self, frame: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
        """ImageNet probabilities of one view of a frame (one view a call: the model's batch is 1)."""
        small = cv2.resize(frame[rows, cols], (_CLASSIFIER_SIZE, _CLASSIFIER_SIZE), interpolation=cv2.INTER_AREA)
        return self._classifier.run(None, {"images": small[None]})[0][0].astype(np.float32) / 255.0

    def _detect(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """[n_frames, n_coco] best detection score per class, 0 under the threshold."""
        # [n, anchors, 91] class logits, 0 = background
        logits = self._detector.run(None, {DETECTOR_INPUT: detector_input(frames)})[0]
        # A class's detection score is its best anchor's sigmoid: what the detector's per-class NMS keeps first.
        best = 1.0 / (1.0 + np.exp(-logits[:, :, self._coco_ids].max(axis=1)))
        return np.where(best >= _MIN_DETECTION, best, 0.0)

    def _device_classify(self, frame, rows: slice, cols: slice) -> np.ndarray:
        """_classify for a frame in GPU memory: resized on the classifier's stream (the caller's `stage`) and
        bound to its session."""
        small = frame.crop(rows, cols).resized(_CLASSIFIER_SIZE, _CLASSIFIER_SIZE)[None]
        return run_on_device(self._classifier, {"images": small})[0][0].float().cpu().numpy() / 255.0

    def _device_detect(self, frames) -> np.ndarray:
        """_detect for frames in GPU memory, on the detector's stream."""
        import torch

        with stage(self._detector):
            small = torch.stack([f.resized(_DETECTOR_SIZE, _DETECTOR_SIZE) for f in frames])
            logits = run_on_device(self._detector, {DETECTOR_INPUT: small.float() * (2.0 / 255.0) - 1.0})[0]
            ids = torch.as_tensor(self._coco_ids, device=logits.device)
            best = torch.sigmoid(logits[:, :, ids].amax(dim=1)).cpu().numpy()
        return np.where(best >= _MIN_DETECTION, best, 0.0)

    def frame_mix(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """[n, dim] the frames' label weights in text space, not yet unit length: the indexer adds the samples'
        action weights later (with_actions) and keeps these instead of every label's weight per sample, which
        grew with the file (6 KiB a sample, 210 MiB for 10 h at 1 sample/s; these are 1.5 KiB)."""
        return self.label_weights(frames) @ self.label_vectors

    def with_actions(self, frame_mixes: np.ndarray, action_weights: np.ndarray) -> np.ndarray:
        """frame_mix rows plus [n, n_actions] action weights -> unit vectors: mix() of the summed weights, since
        the mix is linear."""
        return l2_normalise(frame_mixes + action_weights @ self.label_vectors[self.action_columns])

    def mix(self, weights: np.ndarray) -> np.ndarray:
        """[n, n_labels] label weights -> unit vectors in text space. Nothing recognised: a zero vector,
        which then matches no prompt."""
        return l2_normalise(weights @ self.label_vectors)

    def encode(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        return self.mix(self.label_weights(frames))
