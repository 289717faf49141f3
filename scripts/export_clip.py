"""Turn a Hugging Face CLIP or SigLIP checkpoint into an `edge` dual-encoder bundle (see edge/dual.py).

Run on a machine WITH internet (or with the checkpoint already on disk), never on the appliance:

    python -m venv /tmp/export && /tmp/export/bin/pip install torch transformers onnx onnxruntime \
        opencv-python-headless tokenizers pillow sentencepiece protobuf   # the last two: SigLIP only
    /tmp/export/bin/python scripts/export_clip.py openai/clip-vit-base-patch32 /srv/bundles/clip-b32 --int8
    /tmp/export/bin/python scripts/export_clip.py google/siglip-base-patch16-224 /srv/bundles/siglip-b16 --int8

SOURCE is a hub id or a local directory saved with `save_pretrained` (model, tokenizer, image processor).
The script exports the image and text towers separately (ONNX opset 17, dynamic batch), optionally
quantises their weights to int8 (onnxruntime dynamic quantisation: ~4x smaller, ~3x faster on CPU per
shared/model-sources.md, cosine >= 0.997 to torch in the runs below), writes tokenizer.json, and
bundle.json with the processor's preprocessing, the sha256 of every file and a default calibration.
It then loads the bundle with edge.dual.load_dual_bundle and prints its parity with torch (cosine per
vector, minimum over test images and prompts; add --parity-images DIR to use your own photos), and
exits non-zero when parity is below --min-cosine.
Point the appliance at the directory: EDGE_VISUAL_BUNDLE=/srv/bundles/clip-b32.

Calibration (score = 100 * sigmoid(a * (cosine - b))):
- SigLIP is trained with exactly that sigmoid, so a = exp(logit_scale) and b = -logit_bias / a are read
  from the checkpoint.
- CLIP's logit scale is for a softmax over prompts and has no bias, so a prior is written instead
  (a = 50, b = 0.24: OpenAI ViT-B CLIPs typically give matching image/prompt pairs cosines around
  0.28-0.35 and unrelated ones around 0.15-0.22; not measured here, as no CLIP weights are).
  Refit it on your own footage: collect cosines of frames with prompts that do (label 1) and do not
  (label 0) match, fit a logistic regression label ~ cosine (slope w, intercept c), and set a = w,
  b = -c / w in bundle.json's "calibration" (or pass --calibration A B here).
  bundle.json is not among the hashed files, so editing it is safe.

Manual validation without internet (what was done when this script was written; no downloads):
a throwaway venv as above with torch==2.13.0, then a random small CLIP with a locally built tokenizer:

    import tokenizers, transformers as T      # transformers 5 (CLIPImageProcessorPil)
    alphabet = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    vocab = {t: i for i, t in enumerate(sorted(alphabet) + sorted(c + "</w>" for c in alphabet))}
    merges = []
    for word in "a photo of the dog cat red green blue car".split():   # BPE merges for a few words
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append((parts[0], parts[1])); parts = [parts[0] + parts[1]] + parts[2:]
            vocab.setdefault(parts[0], len(vocab))
    merges = list(dict.fromkeys(merges))
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    tok = T.CLIPTokenizer(vocab=vocab, merges=merges)
    cfg = T.CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, bos_token_id=vocab["<|startoftext|>"],
                         eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"]),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           image_size=64, patch_size=16), projection_dim=32)
    T.CLIPModel(cfg).save_pretrained("/tmp/rclip"); tok.save_pretrained("/tmp/rclip")
    T.CLIPImageProcessorPil(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}
                            ).save_pretrained("/tmp/rclip")

then `python scripts/export_clip.py /tmp/rclip /tmp/rclip-bundle` (and again with --int8). The same with a
SigLIP (T.SiglipConfig, a unigram sentencepiece model trained with sentencepiece.SentencePieceTrainer on a
few sentences, T.SiglipTokenizer, T.SiglipImageProcessorPil(size={"height": 64, "width": 64})), and with
ViT-B/32 sizes (CLIPConfig defaults, vocab_size=49408). Minimum cosines printed (2026-11-26, torch 2.13.0,
transformers 5.24.0, onnxruntime 1.31.1):
    (image model / image end-to-end / text)   float                         int8
    tiny CLIP                                 0.9999999 / 0.99998 / 1.0     0.9999 / 0.9999 / 0.9977
    tiny SigLIP                               0.9999999 / 0.9995 / 0.9999999  0.9997 / 0.9991 / 0.9996
    ViT-B/32 CLIP                             0.9999999 / 0.9999996 / 1.0   0.9997 / 0.9997 / 0.9984
    ViT-B/32 sizes, image + text              351 + 254 MB                  96 + 64 MB
and token ids identical to the transformers tokenizer in every run. Random weights make images look
alike (tiny CLIP: cosine 0.96-0.98 between different images), so these bound the error, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # edge, for the parity check

from edge.dual import FORMAT_VERSION, load_dual_bundle  # noqa: E402
from edge.hashing import sha256_file  # noqa: E402

OPSET = 17
PROMPTS = [
    "a photo of a dog",
    "a red car on a street",
    "Two people playing football!",
    "a bowl of soup",
    "x",
    "someone cooking pasta in a kitchen",
    "  \ufb01ve CAF\u00c9\u2019s\tshow on \uff34\uff36 (2024): 50% off?!",  # case, punctuation, NFKC, spaces
    "a very long description " + "of many things " * 30,  # truncation keeps EOS
]
CLIP_PRIOR = {"kind": "logistic", "a": 50.0, "b": 0.24}


class _Tower(torch.nn.Module):
    """One tower's projected embedding. transformers >= 5 returns a ModelOutput, older a tensor."""

    def __init__(self, model, method: str):
        super().__init__()
        self.model, self.method = model, method  # the model as a submodule, so tracing sees its weights

    def forward(self, *args):
        out = getattr(self.model, self.method)(*args)
        return out if isinstance(out, torch.Tensor) else out.pooler_output


def _preprocessing(processor, image_size: int) -> dict:
    """bundle.json's image section from the checkpoint's (PIL-based) image processor."""
    from PIL import Image

    resample = {Image.Resampling.BICUBIC: "bicubic", Image.Resampling.BILINEAR: "bilinear"}.get(processor.resample)
    if resample is None or not processor.do_resize or not processor.do_normalize:
        raise SystemExit(f"unsupported image processor settings: {processor}")
    if abs(processor.rescale_factor - 1 / 255) > 1e-9 or not processor.do_rescale:
        raise SystemExit(f"unsupported rescale factor {processor.rescale_factor}")
    size = processor.size
    if getattr(processor, "do_center_crop", False):
        crop = processor.crop_size
        if size.get("shortest_edge") != crop["height"] or crop["height"] != crop["width"]:
            raise SystemExit(f"only 'shortest side to N, centre crop NxN' is supported, got {size} / {crop}")
        side, resize = crop["height"], "shortest_side_center_crop"
    else:
        if size.get("height") != size.get("width"):
            raise SystemExit(f"only square resizes are supported, got {size}")
        side, resize = size["height"], "squash"
    if side != image_size:
        raise SystemExit(f"processor makes {side}px images but the model takes {image_size}px")
    return {
        "input": "pixel_values",
        "output": "image_embeds",
        "size": side,
        "resize": resize,
        "interpolation": resample,
        "mean": [float(x) for x in processor.image_mean],
        "std": [float(x) for x in processor.image_std],
    }


def _siglip_tokenizer(tok):
    """SigLIP's sentencepiece tokenizer as a `tokenizers` pipeline (transformers has no converter for it):
    its canonicalisation (lowercase in bundle.json; ASCII punctuation out, whitespace collapsed), then the
    sentencepiece model's own normaliser (usually NFKC), metaspace words, unigram pieces, then </s>."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(Path(tok.vocab_file).read_bytes())
    if proto.trainer_spec.model_type != 1:
        raise SystemExit("only unigram sentencepiece models (SigLIP's) are supported")
    backend = Tokenizer(models.Unigram([(p.piece, p.score) for p in proto.pieces], unk_id=proto.trainer_spec.unk_id))
    charsmap = proto.normalizer_spec.precompiled_charsmap
    backend.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex("[" + "".join("\\" + c for c in string.punctuation) + "]"), ""),
            normalizers.Replace(Regex(r"\s+"), " "),
            normalizers.Strip(),
            *([normalizers.Precompiled(charsmap)] if charsmap else []),
            normalizers.Replace(Regex(" {2,}"), " "),
            normalizers.Strip(),
        ]
    )
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.eos_token_id)]
    )
    return backend


def _text_section(family: str, tok, config) -> tuple[dict, object]:
    if family == "clip":
        backend = tok.backend_tokenizer
        text = {"inputs": ["input_ids", "attention_mask"], "pad_to": "longest", "lowercase": False}
    else:  # SigLIP pools the last position and was trained on max-length padding without a mask
        backend = _siglip_tokenizer(tok)
        text = {"inputs": ["input_ids"], "pad_to": "context_length", "lowercase": bool(tok.do_lower_case)}
    backend.no_padding()
    backend.no_truncation()
    text.update(
        output="text_embeds",
        context_length=int(config.text_config.max_position_embeddings),
        pad_id=int(tok.pad_token_id),
    )
    return text, backend


def _export(module, args: tuple, names: list[str], output: str, dynamic: dict, path: Path) -> None:
    # The TorchScript exporter targets opset 17 directly; the dynamo one would convert down from 18+.
    torch.onnx.export(
        module,
        args,
        str(path),
        input_names=names,
        output_names=[output],
        dynamic_axes={**dynamic, output: {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )


def _quantise(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        float_copy = Path(tmp) / path.name
        path.replace(float_copy)
        # MatMul/Gemm hold the layers' weights, Gather the token embeddings (100 of CLIP's 250 MB text tower).
        # 7-bit weights (reduce_range): AVX2 CPUs without VNNI saturate u8 x s8 products, which took a random
        # SigLIP's cosine to torch from 0.999 down to 0.93. Per-channel scales follow weight outliers.
        quantize_dynamic(
            str(float_copy),
            str(path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["MatMul", "Gemm", "Gather"],
        )


def _test_images(folder: Path | None) -> list[np.ndarray]:
    import cv2

    if folder:
        images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted(folder.iterdir())]
        return [cv2.cvtColor(i, cv2.COLOR_BGR2RGB) for i in images if i is not None]
    rng = np.random.default_rng(0)  # smooth random scenes in a mix of video aspect ratios
    return [
        cv2.resize(
            rng.integers(0, 256, (h // 40 + 2, w // 40 + 2, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC
        )
        for h, w in [(360, 640), (720, 1280), (480, 480), (640, 360), (1080, 1920), (240, 320)]
    ]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def _parity(model, tok, processor, out: Path, family: str, context: int, images: list[np.ndarray]) -> dict:
    """Minimum cosine between the bundle (edge's own code path) and torch + the checkpoint's processors."""
    import onnxruntime as ort
    from PIL import Image

    bundle = load_dual_bundle(out, provider="cpu")
    pixels = processor(images=[Image.fromarray(i) for i in images], return_tensors="pt")["pixel_values"]
    tok_kw = {"padding": "max_length", "max_length": context, "truncation": True, "return_tensors": "pt"}
    text_in = tok(PROMPTS, **tok_kw)
    with torch.no_grad():
        torch_images = _Tower(model, "get_image_features")(pixels).numpy()
        text_args = [text_in["input_ids"]] + ([text_in["attention_mask"]] if family == "clip" else [])
        torch_texts = _Tower(model, "get_text_features")(*text_args).numpy()
    session = ort.InferenceSession(str(out / "image.onnx"), providers=["CPUExecutionProvider"])
    onnx_images = session.run(None, {"pixel_values": pixels.numpy()})[0]
    # One by one, so a "longest" padding runs the text graph at every prompt's own length.
    edge_texts = np.concatenate([bundle.text_encoder.encode([t]) for t in PROMPTS])
    edge_ids = bundle.text_encoder.tokenize(PROMPTS)["input_ids"]
    same_ids = all(list(e[: len(t)]) == list(t[: len(e)]) for e, t in zip(edge_ids, text_in["input_ids"].numpy()))
    edge_images = bundle.image_encoder.encode(images)
    return {
        "image model (same pixels)": float(_cosines(onnx_images, torch_images).min()),
        "image end-to-end (edge preprocessing)": float(_cosines(edge_images, torch_images).min()),
        "text end-to-end (edge tokenizer)": float(_cosines(edge_texts, torch_texts).min()),
        "token ids identical": same_ids,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("source", help="hub id or local checkpoint directory (CLIP or SigLIP, transformers format)")
    p.add_argument("out", type=Path, help="bundle directory to write")
    p.add_argument("--name", help="bundle name (default: the source's last path part)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 weight quantisation")
    p.add_argument("--calibration", nargs=2, type=float, metavar=("A", "B"), help="logistic a and b")
    p.add_argument("--parity-images", type=Path, help="folder of photos for the parity check")
    p.add_argument("--min-cosine", type=float, help="parity threshold (default 0.999 float, 0.98 int8)")
    args = p.parse_args()

    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

    family = AutoConfig.from_pretrained(args.source).model_type
    if family not in ("clip", "siglip"):
        raise SystemExit(f"{args.source} is a {family!r} model; this exports clip and siglip")
    # Eager attention exports as plain MatMul/Softmax, which every onnxruntime provider runs.
    model = AutoModel.from_pretrained(args.source, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(args.source)
    processor = AutoImageProcessor.from_pretrained(args.source)
    image = _preprocessing(processor, model.config.vision_config.image_size)
    text, backend = _text_section(family, tok, model.config)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    backend.save(str(out / "tokenizer.json"))
    size, ctx = image["size"], text["context_length"]
    with torch.no_grad():
        _export(
            _Tower(model, "get_image_features"),
            (torch.zeros(2, 3, size, size),),
            ["pixel_values"],
            "image_embeds",
            {"pixel_values": {0: "batch"}},
            out / "image.onnx",
        )
        ids = torch.full((2, ctx), text["pad_id"], dtype=torch.long)
        text_args = (ids, torch.ones_like(ids)) if family == "clip" else (ids,)
        _export(
            _Tower(model, "get_text_features"),
            text_args,
            text["inputs"],
            "text_embeds",
            {n: {0: "batch", 1: "sequence"} for n in text["inputs"]},
            out / "text.onnx",
        )
    if args.int8:
        _quantise(out / "image.onnx")
        _quantise(out / "text.onnx")

    if args.calibration:
        calibration = {"kind": "logistic", "a": args.calibration[0], "b": args.calibration[1]}
    elif family == "siglip":
        a = model.logit_scale.detach().exp().item()
        calibration = {"kind": "logistic", "a": a, "b": -model.logit_bias.detach().item() / a}
    else:
        calibration = dict(CLIP_PRIOR)
    name = args.name or Path(args.source.rstrip("/")).name + ("-int8" if args.int8 else "")
    manifest = {
        "format": FORMAT_VERSION,
        "kind": "dual_encoder",
        "name": name,
        "family": family,
        "files": {f: sha256_file(out / f) for f in ("image.onnx", "text.onnx", "tokenizer.json")},
        "image": image,
        "text": text,
        "calibration": calibration,
    }
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")

    parity = _parity(model, tok, processor, out, family, ctx, _test_images(args.parity_images))
    sizes = {f: f"{(out / f).stat().st_size / 1e6:.1f} MB" for f in ("image.onnx", "text.onnx")}
    print(json.dumps({"bundle": str(out), "family": family, "sizes": sizes, "parity_min_cosine": parity}, indent=2))
    threshold = args.min_cosine or (0.98 if args.int8 else 0.999)
    failed = [k for k, v in parity.items() if v is False or (v is not True and v < threshold)]
    if failed:
        print(f"PARITY FAILED (< {threshold}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
