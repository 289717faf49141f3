"""A tiny dual-encoder bundle with known semantics, built in code (no weights, no torch).

Both towers map into one 4-D "colour" space, (r - 0.5, g - 0.5, b - 0.5, 0.1), rotated into 8-D by a
fixed matrix with orthonormal rows (so cosines are those of the 4-D space):
- image.onnx: undoes mean/std normalisation, averages each image to its mean colour, projects it;
- text.onnx: looks up each token's colour (colour words) or the neutral (0, 0, 0, 0.1) (everything
  else), averages over the attention mask, projects it.
So a red frame is closest to the prompt "red", a grey frame to nothing in particular.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from edge.hashing import sha256_file

DIM = 8
IMAGE_SIZE = 32
CONTEXT_LENGTH = 16
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
COLOURS = {
    "red": (1, 0, 0),
    "green": (0, 1, 0),
    "blue": (0, 0, 1),
    "yellow": (1, 1, 0),
    "cyan": (0, 1, 1),
    "magenta": (1, 0, 1),
    "white": (1, 1, 1),
    "black": (0, 0, 0),
}
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
OTHER_WORDS = ["a", "photo", "of", "the", "dog", "sky", "car"]
NEUTRAL = 0.1
CALIBRATION = {"kind": "logistic", "a": 12.0, "b": 0.5}


def _projection() -> np.ndarray:
    """[4, DIM] with orthonormal rows."""
    q, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(DIM, 4)))
    return q.T.astype(np.float32)


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what opset 17 shipped with; any onnxruntime since 1.13 reads it
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _image_model(path: Path, proj: np.ndarray) -> None:
    consts = [
        numpy_helper.from_array(np.asarray(CLIP_STD, np.float32), "std"),
        numpy_helper.from_array(np.asarray(CLIP_MEAN, np.float32), "mean"),
        numpy_helper.from_array(np.float32(0.5), "half"),
        numpy_helper.from_array(proj[:3], "w"),
        numpy_helper.from_array(NEUTRAL * proj[3], "bias"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["avg"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["avg", "std"], ["scaled"]),
        helper.make_node("Add", ["scaled", "mean"], ["rgb"]),  # back to [0, 1] RGB
        helper.make_node("Sub", ["rgb", "half"], ["centred"]),
        helper.make_node("MatMul", ["centred", "w"], ["projected"]),
        helper.make_node("Add", ["projected", "bias"], ["image_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", DIM])],
        consts,
    )
    _save(graph, path)


def _text_model(path: Path, proj: np.ndarray, vocab: dict[str, int]) -> None:
    table = np.zeros((len(vocab), 4), np.float32)
    table[:, 3] = NEUTRAL
    for word, rgb in COLOURS.items():
        table[vocab[word], :3] = np.asarray(rgb, np.float32) - 0.5
    consts = [
        numpy_helper.from_array(table @ proj, "table"),
        numpy_helper.from_array(np.array([1], np.int64), "seq_axis"),
        numpy_helper.from_array(np.array([-1], np.int64), "last_axis"),
        numpy_helper.from_array(np.float32(1.0), "one"),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),  # [N, L, DIM]
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["kept"]),
        helper.make_node("ReduceSum", ["kept", "seq_axis"], ["total"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "seq_axis"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["safe_count"]),
        helper.make_node("Div", ["total", "safe_count"], ["text_embeds"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_text",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", DIM])],
        consts,
    )
    _save(graph, path)


def _tokenizer(path: Path) -> dict[str, int]:
    """Word-level, CLIP-like framing: <bos> words <eos>, case-sensitive (bundle.json asks to lowercase)."""
    vocab = {w: i for i, w in enumerate(SPECIALS + list(COLOURS) + OTHER_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])]
    )
    tok.save(str(path))
    return vocab


def build_tiny_dual_bundle(directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    proj = _projection()
    vocab = _tokenizer(directory / "tokenizer.json")
    _image_model(directory / "image.onnx", proj)
    _text_model(directory / "text.onnx", proj, vocab)
    manifest = {
        "format": 1,
        "kind": "dual_encoder",
        "name": "tiny-colour",
        "family": "clip",
        "files": {name: sha256_file(directory / name) for name in ("image.onnx", "text.onnx", "tokenizer.json")},
        "image": {
            "input": "pixel_values",
            "output": "image_embeds",
            "size": IMAGE_SIZE,
            "resize": "shortest_side_center_crop",
            "interpolation": "bicubic",
            "mean": list(CLIP_MEAN),
            "std": list(CLIP_STD),
        },
        "text": {
            "inputs": ["input_ids", "attention_mask"],
            "output": "text_embeds",
            "context_length": CONTEXT_LENGTH,
            "pad_id": vocab["<pad>"],
            "lowercase": True,
        },
        "calibration": CALIBRATION,
    }
    (directory / "bundle.json").write_text(json.dumps(manifest, indent=2))
    return directory
