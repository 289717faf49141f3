"""Operator-provisioned CLIP-family dual encoders (CLIP, SigLIP) from a verified ONNX bundle directory.

A bundle (as scripts/export_clip.py writes it) is `bundle.json` + `image.onnx` + `text.onnx` +
`tokenizer.json`. bundle.json:

    {"format": 1, "kind": "dual_encoder", "name": "...", "family": "clip" | "siglip",
     "files": {"image.onnx": "<sha256>", "text.onnx": "<sha256>", "tokenizer.json": "<sha256>"},
     "image": {"input": "pixel_values", "output": "image_embeds", "size": 224,
               "resize": "shortest_side_center_crop" | "squash", "interpolation": "bicubic" | "bilinear",
               "mean": [r, g, b], "std": [r, g, b]},
     "text": {"inputs": ["input_ids", "attention_mask"?], "output": "text_embeds", "context_length": 77,
              "pad_id": 49407, "lowercase": false, "pad_to": "context_length" | "longest"},
     "calibration": {...}}   # passed through untouched; edge.calibration defines it

bundle.json itself is not hashed: it is the manifest that names the hashes, and its calibration is
meant to be refitted in place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tokenizers import Tokenizer

from edge.encoders import l2_normalise
from edge.hashing import IntegrityError, verify_file
from edge.runtime import open_session

FORMAT_VERSION = 1
MODEL_FILES = ("image.onnx", "text.onnx", "tokenizer.json")
# Per-run batch sizes: large enough to keep the matmuls efficient, small enough to bound peak activation memory.
IMAGE_BATCH = 32
TEXT_BATCH = 256

_RESIZES = ("shortest_side_center_crop", "squash")
_INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}
_TEXT_INPUTS = ("input_ids", "attention_mask")
_PAD_TO = ("context_length", "longest")


@dataclass(frozen=True)
class ImageSpec:
    input: str
    output: str
    size: int
    resize: str
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class TextSpec:
    inputs: tuple[str, ...]
    output: str
    context_length: int
    pad_id: int
    lowercase: bool = False
    # CLIP's causal text tower reads nothing after EOS, so "longest" is exact there and saves most of
    # the work; SigLIP pools the last position and must see exactly context_length tokens.
    pad_to: str = "context_length"


# ---- preprocessing (matches the PIL-based processors of Hugging Face and open_clip) ----


def _resize(frame: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    if width <= frame.shape[1] and height <= frame.shape[0]:
        # PIL's bicubic antialiases when shrinking and OpenCV's does not; INTER_AREA comes closest
        # (mean error vs PIL on natural images ~0.6 grey levels, INTER_CUBIC ~2.3, ~50 on noise).
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, (width, height), interpolation=_INTERPOLATIONS[interpolation])


def resize_and_crop(frame: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """One RGB uint8 HxWx3 frame -> uint8 size x size x 3, the way the checkpoint's processor does it."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 HxWx3 frame, got {frame.dtype} {frame.shape}")
    size = spec.size
    if spec.resize == "squash":
        return _resize(frame, size, size, spec.interpolation)
    height, width = frame.shape[:2]
    # Shortest side to `size`, long side truncated (HF get_resize_output_image_size, torchvision Resize).
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    resized = _resize(frame, new_w, new_h, spec.interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def preprocess(frames: Sequence[np.ndarray], spec: ImageSpec) -> np.ndarray:
    """Frames -> float32 NCHW pixel values: resize/crop, /255, (x - mean) / std."""
    batch = np.stack([resize_and_crop(f, spec) for f in frames]).astype(np.float32)
    batch *= 1.0 / 255.0
    batch -= np.asarray(spec.mean, np.float32)
    batch /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


# ---- encoders ----


class DualImageEncoder:
    def __init__(self, session, spec: ImageSpec, key: str, dim: int):
        self.key, self.dim = key, dim
        self._session, self._spec = session, spec

    def encode(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        if not len(frames):
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(frames), IMAGE_BATCH):
            pixels = preprocess(frames[start : start + IMAGE_BATCH], self._spec)
            out.append(self._session.run([self._spec.output], {self._spec.input: pixels})[0])
        return l2_normalise(np.concatenate(out))


class DualTextEncoder:
    def __init__(self, session, tokenizer: Tokenizer, spec: TextSpec, key: str, dim: int):
        self.key, self.dim = key, dim
        self._session, self._spec = session, spec
        # The tokenizer's post-processor adds BOS/EOS; truncation keeps room for them, so EOS survives.
        tokenizer.enable_truncation(spec.context_length)
        tokenizer.enable_padding(
            pad_id=spec.pad_id,
            pad_token=tokenizer.id_to_token(spec.pad_id),
            length=spec.context_length if spec.pad_to == "context_length" else None,
        )
        self._tokenizer = tokenizer

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model's feeds: int64 [len(texts), length] per declared input."""
        texts = [t.lower() for t in texts] if self._spec.lowercase else list(texts)
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
        }
        return {name: feeds[name] for name in self._spec.inputs}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        out = []
        for start in range(0, len(texts), TEXT_BATCH):
            feeds = self.tokenize(texts[start : start + TEXT_BATCH])
            out.append(self._session.run([self._spec.output], feeds)[0])
        return l2_normalise(np.concatenate(out))


@dataclass(frozen=True)
class DualBundle:
    name: str
    family: str
    image_encoder: DualImageEncoder
    text_encoder: DualTextEncoder
    calibration: dict


# ---- bundle.json ----

_REQUIRED = object()


def _field(
    section: dict, prefix: str, key: str, check: Callable[[Any], bool], want: str, default: Any = _REQUIRED
) -> Any:
    name = prefix + key
    if key not in section:
        if default is _REQUIRED:
            raise ValueError(f"bundle.json: field {name!r} is missing ({want})")
        return default
    value = section[key]
    if not check(value):
        raise ValueError(f"bundle.json: field {name!r} must be {want}, got {value!r}")
    return value


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and bool(v)


def _is_int(v: Any, minimum: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _is_triple(v: Any, positive: bool) -> bool:
    return (
        isinstance(v, list)
        and len(v) == 3
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and (x > 0 or not positive) for x in v)
    )


def _is_sha256(v: Any) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _is_files(v: Any) -> bool:
    # Plain names only: the manifest must not point outside its own directory.
    return (
        isinstance(v, dict)
        and all(name in v for name in MODEL_FILES)
        and all(
            _is_text(k) and "/" not in k and "\\" not in k and k not in (".", "..") and _is_sha256(s)
            for k, s in v.items()
        )
    )


def _section(manifest: dict, key: str) -> dict:
    return _field(manifest, "", key, lambda v: isinstance(v, dict), "an object")


def _parse_manifest(path: Path) -> tuple[dict, ImageSpec, TextSpec]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"dual-encoder bundle manifest missing: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"bundle.json: not valid JSON ({path}: {exc})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"bundle.json: must hold a JSON object ({path})")
    _field(manifest, "", "format", lambda v: v == FORMAT_VERSION, f"{FORMAT_VERSION} (supported version)")
    _field(manifest, "", "kind", lambda v: v == "dual_encoder", '"dual_encoder"')
    _field(manifest, "", "name", _is_text, "a non-empty string")
    _field(manifest, "", "family", lambda v: v in ("clip", "siglip"), '"clip" or "siglip"')
    _field(manifest, "", "files", _is_files, f"an object naming {', '.join(MODEL_FILES)} with sha256 hex digests")
    _section(manifest, "calibration")

    img = _section(manifest, "image")
    image = ImageSpec(
        input=_field(img, "image.", "input", _is_text, "an input name"),
        output=_field(img, "image.", "output", _is_text, "an output name"),
        size=_field(img, "image.", "size", lambda v: _is_int(v, 1), "a positive integer"),
        resize=_field(img, "image.", "resize", lambda v: v in _RESIZES, " or ".join(_RESIZES)),
        interpolation=_field(
            img, "image.", "interpolation", lambda v: v in _INTERPOLATIONS, " or ".join(_INTERPOLATIONS)
        ),
        mean=tuple(_field(img, "image.", "mean", lambda v: _is_triple(v, False), "3 numbers (RGB)")),
        std=tuple(_field(img, "image.", "std", lambda v: _is_triple(v, True), "3 positive numbers (RGB)")),
    )

    txt = _section(manifest, "text")
    text = TextSpec(
        inputs=tuple(
            _field(
                txt,
                "text.",
                "inputs",
                lambda v: (
                    isinstance(v, list)
                    and bool(v)
                    and v[0] == "input_ids"
                    and set(v) <= set(_TEXT_INPUTS)
                    and len(set(v)) == len(v)
                ),
                '["input_ids"] or ["input_ids", "attention_mask"]',
            )
        ),
        output=_field(txt, "text.", "output", _is_text, "an output name"),
        context_length=_field(txt, "text.", "context_length", lambda v: _is_int(v, 2), "an integer >= 2"),
        pad_id=_field(txt, "text.", "pad_id", lambda v: _is_int(v, 0), "a token id"),
        lowercase=_field(txt, "text.", "lowercase", lambda v: isinstance(v, bool), "true or false", False),
        pad_to=_field(txt, "text.", "pad_to", lambda v: v in _PAD_TO, " or ".join(_PAD_TO), "context_length"),
    )
    return manifest, image, text


def _check_io(session, section: str, input_field: str, inputs: Sequence[str], output: str) -> int:
    """The names bundle.json declares exist in the model; returns its embedding width."""
    have_in = [i.name for i in session.get_inputs()]
    for name in inputs:
        if name not in have_in:
            raise ValueError(f"bundle.json: field {input_field!r} names {name!r}, but {section}.onnx takes {have_in}")
    if unfed := [name for name in have_in if name not in inputs]:
        raise ValueError(f"bundle.json: field {input_field!r} lacks {unfed}, which {section}.onnx needs")
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if output not in outputs:
        raise ValueError(
            f"bundle.json: field '{section}.output' names {output!r}, but {section}.onnx gives {list(outputs)}"
        )
    shape = outputs[output]
    if len(shape) != 2 or not isinstance(shape[1], int):
        raise ValueError(f"{section}.onnx output {output!r} has shape {shape}; expected [batch, dim] with a fixed dim")
    return shape[1]


def load_dual_bundle(path: Path, provider: str | None = None, threads: int = 0) -> DualBundle:
    """Verify every file of the bundle at `path`, then open both towers on the chosen provider."""
    path = Path(path)
    manifest, image_spec, text_spec = _parse_manifest(path / "bundle.json")
    for name, sha in manifest["files"].items():
        verify_file(path / name, sha)

    image_session = open_session(path / "image.onnx", provider, threads)
    text_session = open_session(path / "text.onnx", provider, threads)
    image_dim = _check_io(image_session, "image", "image.input", [image_spec.input], image_spec.output)
    text_dim = _check_io(text_session, "text", "text.inputs", text_spec.inputs, text_spec.output)
    if image_dim != text_dim:
        raise ValueError(f"image.onnx gives {image_dim}-D vectors but text.onnx {text_dim}-D: not one embedding space")

    # Vectors are only comparable within one exact export and preprocessing: the key names all of it.
    ident = {k: manifest[k] for k in ("files", "image", "text")}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    key = f"dual-{manifest['family']}-{manifest['name']}-{digest}"
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    if tokenizer.id_to_token(text_spec.pad_id) is None:
        raise ValueError(f"bundle.json: field 'text.pad_id' is {text_spec.pad_id}, outside tokenizer.json's vocabulary")
    return DualBundle(
        name=manifest["name"],
        family=manifest["family"],
        image_encoder=DualImageEncoder(image_session, image_spec, key + "/image", image_dim),
        text_encoder=DualTextEncoder(text_session, tokenizer, text_spec, key + "/text", text_dim),
        calibration=manifest["calibration"],
    )
