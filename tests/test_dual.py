"""edge.dual: bundle loading, integrity, manifest errors, preprocessing, and the encoders' semantics
on the tiny colour bundle (tests/tiny_dual.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_dual import CALIBRATION, CLIP_MEAN, CLIP_STD, CONTEXT_LENGTH, DIM, build_tiny_dual_bundle

from edge.dual import IMAGE_BATCH, ImageSpec, load_dual_bundle, preprocess, resize_and_crop
from edge.hashing import IntegrityError

RED, GREEN, BLUE, YELLOW = (230, 20, 25), (15, 220, 30), (20, 30, 235), (240, 235, 10)
PROMPTS = ["a photo of RED", "green", "Blue", "the yellow car", "a dog"]


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return build_tiny_dual_bundle(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_dual_bundle(bundle_dir, provider="cpu", threads=1)


def _copy(bundle_dir: Path, tmp_path: Path) -> Path:
    for f in bundle_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path


def _frame(colour, height, width, seed=0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-15, 16, size=(height, width, 3))
    return np.clip(np.asarray(colour) + noise, 0, 255).astype(np.uint8)


def _spec(resize="shortest_side_center_crop", size=224) -> ImageSpec:
    return ImageSpec("pixel_values", "image_embeds", size, resize, "bicubic", CLIP_MEAN, CLIP_STD)


def test_loads_with_declared_dim_keys_and_calibration(bundle):
    assert bundle.name == "tiny-colour" and bundle.family == "clip"
    assert bundle.image_encoder.dim == bundle.text_encoder.dim == DIM
    assert bundle.image_encoder.key.startswith("dual-clip-tiny-colour-")
    assert bundle.image_encoder.key != bundle.text_encoder.key
    assert bundle.calibration == CALIBRATION


@pytest.mark.parametrize("height,width", [(360, 640), (250, 90), (32, 32), (1080, 1920)])
def test_colour_frames_match_their_prompts(bundle, height, width):
    frames = [_frame(c, height, width, seed=i) for i, c in enumerate([RED, GREEN, BLUE, YELLOW])]
    sims = bundle.image_encoder.encode(frames) @ bundle.text_encoder.encode(PROMPTS).T
    assert list(sims.argmax(axis=1)) == [0, 1, 2, 3]


def test_centre_crop_decides_what_the_image_tower_sees(bundle):
    # Green bars outside the centre square of a 16:9 frame are cropped away; only the red centre counts.
    frame = _frame(GREEN, 360, 640)
    frame[:, 140:500] = _frame(RED, 360, 360)
    sims = bundle.image_encoder.encode([frame]) @ bundle.text_encoder.encode(PROMPTS).T
    assert sims.argmax() == 0


def test_outputs_are_float32_unit_rows(bundle):
    images = bundle.image_encoder.encode([_frame(RED, 50, 70), np.full((40, 40, 3), 128, np.uint8)])
    texts = bundle.text_encoder.encode(["red", "unknownword", ""])
    for out, n in ((images, 2), (texts, 3)):
        assert out.dtype == np.float32 and out.shape == (n, DIM)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert bundle.image_encoder.encode([]).shape == (0, DIM)
    assert bundle.text_encoder.encode([]).shape == (0, DIM)


def test_batches_equal_one_by_one(bundle):
    rng = np.random.default_rng(3)
    frames = [
        rng.integers(0, 256, size=(int(rng.integers(20, 120)), int(rng.integers(20, 120)), 3), dtype=np.uint8)
        for _ in range(IMAGE_BATCH + 9)
    ]
    together = bundle.image_encoder.encode(frames)
    single = np.concatenate([bundle.image_encoder.encode([f]) for f in frames])
    np.testing.assert_allclose(together, single, atol=1e-6)

    words = ["red", "green", "blue", "a photo of the sky", "cyan dog", "WHITE car"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 4)))) for _ in range(300)]
    together = bundle.text_encoder.encode(texts)
    single = np.concatenate([bundle.text_encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, single, atol=1e-6)


def test_tokenize_truncates_keeping_eos_and_pads_to_context(bundle):
    feeds = bundle.text_encoder.tokenize(["RED " * 40, "blue"])
    ids, mask = feeds["input_ids"], feeds["attention_mask"]
    assert ids.shape == mask.shape == (2, CONTEXT_LENGTH)
    assert ids[0, 0] == 1 and ids[0, -1] == 2 and mask[0].all()  # <bos> red ... red <eos>
    assert list(ids[1, :3]) == [1, 6, 2] and not ids[1, 3:].any()  # <bos> blue <eos> <pad>...
    assert list(mask[1]) == [1, 1, 1] + [0] * (CONTEXT_LENGTH - 3)


def test_pad_to_longest_pads_only_to_the_batch_and_keeps_vectors(bundle, bundle_dir, tmp_path):
    copy = _copy(bundle_dir, tmp_path)
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["text"]["pad_to"] = "longest"
    (copy / "bundle.json").write_text(json.dumps(manifest))
    longest = load_dual_bundle(copy).text_encoder
    assert longest.tokenize(["red", "a photo of blue"])["input_ids"].shape == (2, 6)
    np.testing.assert_allclose(longest.encode(PROMPTS), bundle.text_encoder.encode(PROMPTS), atol=1e-6)


def test_tampered_model_is_refused_naming_it(bundle_dir, tmp_path):
    copy = _copy(bundle_dir, tmp_path)
    data = bytearray((copy / "image.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "image.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="image.onnx"):
        load_dual_bundle(copy)


def test_missing_file_is_refused_naming_it(bundle_dir, tmp_path):
    copy = _copy(bundle_dir, tmp_path)
    (copy / "tokenizer.json").unlink()
    with pytest.raises(IntegrityError, match="tokenizer.json"):
        load_dual_bundle(copy)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda m: m.update(kind="classifier"), "'kind'"),
        (lambda m: m.update(format=2), "'format'"),
        (lambda m: m["image"].update(mean=[0.5, 0.5]), "'image.mean'"),
        (lambda m: m["image"].update(std=[0.5, 0.0, 0.5]), "'image.std'"),
        (lambda m: m["image"].update(resize="stretch"), "'image.resize'"),
        (lambda m: m["image"].pop("size"), "'image.size'"),
        (lambda m: m["image"].update(input="pixels"), "'image.input'"),
        (lambda m: m["text"].update(context_length="77"), "'text.context_length'"),
        (lambda m: m["text"].update(inputs=["input_ids"]), "'text.inputs'"),  # the model needs the mask too
        (lambda m: m["text"].update(output="pooled"), "'text.output'"),
        (lambda m: m["text"].update(pad_id=10_000), "'text.pad_id'"),
        (lambda m: m["files"].pop("text.onnx"), "'files'"),
        (lambda m: m["files"].update({"../escape.onnx": "0" * 64}), "'files'"),
        (lambda m: m.update(calibration=[1, 2]), "'calibration'"),
    ],
)
def test_bad_manifest_field_is_named(bundle_dir, tmp_path, mutate, field):
    copy = _copy(bundle_dir, tmp_path)
    manifest = json.loads((copy / "bundle.json").read_text())
    mutate(manifest)
    (copy / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"bundle.json: field {field}"):
        load_dual_bundle(copy)


def test_manifest_that_is_not_json_is_a_clear_error(bundle_dir, tmp_path):
    copy = _copy(bundle_dir, tmp_path)
    (copy / "bundle.json").write_text('{"format": 1,')
    with pytest.raises(ValueError, match="bundle.json: not valid JSON"):
        load_dual_bundle(copy)


@pytest.mark.parametrize("transpose", [False, True])
def test_shortest_side_center_crop_keeps_the_centre_square(transpose):
    # 640x360: green bars left and right of the centre 360x360, which is red on top and blue below.
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = GREEN
    image[:180, 140:500] = RED
    image[180:, 140:500] = BLUE
    if transpose:  # 360x640 portrait: bars above and below, red left and blue right
        image = image.transpose(1, 0, 2).copy()
    out = resize_and_crop(image, _spec())
    if transpose:
        out = out.transpose(1, 0, 2)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    # 360 -> 224 scales by 0.622; the red/blue edge lands on row 112, the bars just outside columns 0/223.
    assert (out[:110, 1:223] == RED).all()
    assert (out[114:, 1:223] == BLUE).all()
    assert (out[:, [0, 223], 1] < 60).all()  # edge columns are still mostly red/blue, not the green bar


def test_squash_keeps_the_whole_frame():
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = GREEN
    image[:, 140:500] = RED
    out = resize_and_crop(image, _spec("squash"))
    assert out.shape == (224, 224, 3)
    assert (out[:, :45] == GREEN).all() and (out[:, 52:172] == RED).all() and (out[:, 180:] == GREEN).all()


def test_normalisation_matches_hand_computation():
    frame = np.zeros((224, 224, 3), np.uint8)
    frame[:, :112] = (255, 0, 128)
    frame[:, 112:] = (10, 200, 60)
    pixels = preprocess([frame, frame], _spec())
    assert pixels.shape == (2, 3, 224, 224) and pixels.dtype == np.float32
    left = [(1.0 - 0.48145466) / 0.26862954, (0.0 - 0.4578275) / 0.26130258, (128 / 255 - 0.40821073) / 0.27577711]
    right = [
        (10 / 255 - 0.48145466) / 0.26862954,
        (200 / 255 - 0.4578275) / 0.26130258,
        (60 / 255 - 0.40821073) / 0.27577711,
    ]
    for channel in range(3):
        np.testing.assert_allclose(pixels[:, channel, :, :112], left[channel], rtol=1e-6)
        np.testing.assert_allclose(pixels[:, channel, :, 112:], right[channel], rtol=1e-6)


def test_frames_must_be_rgb_uint8(bundle):
    with pytest.raises(ValueError, match="RGB uint8"):
        bundle.image_encoder.encode([np.zeros((32, 32), np.uint8)])
    with pytest.raises(ValueError, match="RGB uint8"):
        bundle.image_encoder.encode([np.zeros((32, 32, 3), np.float32)])
