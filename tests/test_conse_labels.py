"""ConSE's label embeddings: a label carries its WordNet hypernyms, so a general prompt reaches specific labels.
The real text encoder (bge) and the real label files of the model store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge import conse
from edge.bundles import load_text_encoder, load_visual_bundle
from edge.settings import load_settings


@pytest.fixture
def frame_labels(models_dir, edge_home, monkeypatch) -> list[str]:
    monkeypatch.setenv("EDGE_ACTION_EVERY", "0")  # the frame models' labels alone
    labels = (models_dir / "image-efficientnet-lite3" / "labels.txt").read_text().splitlines()
    return [line.strip() for line in labels if line.strip()]


def _rank(label_vectors: np.ndarray, labels: list[str], prompt: str, label: str) -> int:
    p = load_text_encoder(load_settings()).encode([prompt])[0]
    order = np.argsort(-(label_vectors[: len(labels)] @ p))
    return int(np.flatnonzero(order == labels.index(label))[0])


@pytest.mark.parametrize("prompt, label", [("a flower", "daisy"), ("an insect", "weevil"), ("a hand tool", "hammer")])
def test_a_general_prompt_reaches_the_specific_labels_under_it(frame_labels, prompt, label):
    """By name alone bge put "daisy" far behind "vase", "pot, flowerpot" and "perfume" for "a flower";
    through its hypernyms (flower -> angiosperm) it is among the first few ImageNet labels."""
    vectors = load_visual_bundle(load_settings()).image_encoder.label_vectors
    assert _rank(vectors, frame_labels, prompt, label) < 5


def test_without_hypernyms_a_label_is_its_name_and_the_index_key_changes(frame_labels, monkeypatch, tmp_path):
    table = json.loads(conse.HYPERNYMS.read_text())
    assert len(table["imagenet"]) == len(frame_labels) and len(table["coco"]) == 80
    daisy = frame_labels.index("daisy")
    assert [1, "flower"] in table["imagenet"][daisy]
    with_hypernyms = load_visual_bundle(load_settings()).image_encoder

    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({**table, "imagenet": [[]] * len(frame_labels), "coco": [[]] * 80}))
    monkeypatch.setattr(conse, "HYPERNYMS", flat)
    by_name = load_visual_bundle(load_settings()).image_encoder
    assert by_name.key != with_hypernyms.key  # stored vectors of the other kind are re-indexed, never mixed
    alone = load_text_encoder(load_settings()).encode(["daisy"])[0]
    assert by_name.label_vectors[daisy] @ alone > 0.99  # (batched with longer names: padding moves it a little)
    assert _rank(by_name.label_vectors, frame_labels, "a flower", "daisy") > _rank(
        with_hypernyms.label_vectors, frame_labels, "a flower", "daisy"
    )


def test_views_of_an_elongated_frame():
    from edge.conse import views

    assert views((720, 720, 3)) == [(slice(0, 720), slice(0, 720))]
    assert views((720, 900, 3)) == [(slice(0, 720), slice(0, 900))]  # not elongated enough to split
    assert views((720, 1280, 3)) == [(slice(0, 720), slice(0, 720)), (slice(0, 720), slice(560, 1280))]
    assert views((1280, 720, 3)) == [(slice(0, 720), slice(0, 720)), (slice(560, 1280), slice(0, 720))]
    assert views((720, 1280, 3), split=False) == [(slice(0, 720), slice(0, 1280))]


def test_two_things_side_by_side_are_both_seen(frame_labels, monkeypatch):
    """A wide frame with a cat left and a rocket on its launch pad right (real photos): squeezed whole into the
    classifier's square it is all cat (Egyptian cat, tiger cat, tabby, ...); its end squares name the rocket too."""
    import cv2
    from skimage import data

    frame = np.hstack([cv2.resize(data.chelsea(), (640, 720)), cv2.resize(data.rocket(), (640, 720))])
    encoder = load_visual_bundle(load_settings()).image_encoder

    def seen(weights):
        names = {frame_labels[i] for i in np.flatnonzero(weights[0, : len(frame_labels)])}
        rocket = ("missile", "projectile, missile", "space shuttle")
        return {"cat" for n in names if "cat" in n} | {"rocket" for n in names if n in rocket}

    assert seen(encoder.label_weights([frame])) == {"cat", "rocket"}
    monkeypatch.setenv("EDGE_FRAME_VIEWS", "off")  # the whole frame alone: half the classifier's work
    whole_only = load_visual_bundle(load_settings()).image_encoder
    assert seen(whole_only.label_weights([frame])) == {"cat"}
    assert whole_only.key != encoder.key  # vectors made either way never mix in the store


def test_the_hierarchy_script_reads_wordnet_hypernyms():
    import label_hierarchy as lh

    if not (lh.WORDNET / "data.noun").is_file():
        pytest.skip("Debian's wordnet-base is not installed")
    nouns, senses = lh.read_nouns(lh.WORDNET), lh.first_senses(lh.WORDNET)
    chain = lh.ancestors(nouns, senses["daisy"])
    assert chain[0] == (1, senses["flower"]) and (2, senses["angiosperm"]) in chain
    hammer = "03481172"  # ImageNet's n03481172 (the first sense of "hammer" is a gun's striker)
    assert [nouns[o][0][0] for d, o in lh.ancestors(nouns, hammer) if d <= 2] == ["hand tool", "tool"]


def test_frame_mixes_plus_actions_are_the_mix_of_all_weights():
    """The indexer keeps each sample's frame mix (dim floats) instead of every label's weight (1,500 floats; a
    10-hour file's worth was 210 MiB) and adds the action weights at the end: the same vectors."""
    encoder = load_visual_bundle(load_settings()).image_encoder
    assert encoder.actions is not None  # actions are on by default
    frames = [np.random.default_rng(i).integers(0, 255, (360, 640, 3), dtype=np.uint8) for i in range(3)]
    actions = np.random.default_rng(9).random((3, len(encoder.actions.labels)), dtype=np.float32) * 0.3
    weights = encoder.label_weights(frames)
    weights[:, encoder.action_columns] = actions
    mixes = encoder.frame_mix(frames)
    assert mixes.shape == (3, encoder.dim)
    np.testing.assert_allclose(encoder.with_actions(mixes, actions), encoder.mix(weights), atol=1e-5)


def test_detections_enter_the_mix_at_their_weight_and_in_the_key(frame_labels, models_dir, monkeypatch):
    """The detector's best-anchor scores run high on things that are not there, so a detection counts
    DETECTION_WEIGHT x its score beside the classifier's probabilities, a person (which ImageNet cannot name) in
    full; another weight is another index key."""
    from skimage import data

    coco = conse._load_coco_labels(models_dir / "detect-ssd-mobilenet-v2" / "labels.txt")
    column = {name: sorted(coco).index(i) for i, name in coco.items()}
    encoder = load_visual_bundle(load_settings()).image_encoder
    for image, seen in ((data.chelsea(), "cat"), (data.astronaut(), "person")):
        frame = np.ascontiguousarray(image[..., :3])
        detected = encoder._detect([frame])[0]
        assert detected[column[seen]] > 0.5  # the real detector sees it
        weights = encoder.label_weights([frame])[0][encoder._coco_columns]
        assert weights[column[seen]] == pytest.approx(detected[column[seen]] * (1 if seen == "person" else 0.5))
    assert conse.DETECTION_WEIGHT == 0.5
    monkeypatch.setattr(conse, "DETECTION_WEIGHT", 1.0)
    assert load_visual_bundle(load_settings()).image_encoder.key != encoder.key


def test_classifier_probabilities_enter_the_mix_flattened_and_in_the_key(monkeypatch):
    """The softmax is overconfident: each view's top-k probabilities enter as p ** CLASSIFIER_POWER (a right
    second guess at 0.2 counts 0.45, not 0.2), each label at its best over the views; another power is another
    index key."""
    from skimage import data

    encoder = load_visual_bundle(load_settings()).image_encoder
    frame = np.ascontiguousarray(data.chelsea()[:, :300, :3])  # square: one view, the whole frame
    probs = encoder._classify(frame, slice(None), slice(None))
    weights = encoder.label_weights([frame])[0][: len(probs)]
    top = np.argsort(-probs)[:5]
    assert conse.CLASSIFIER_POWER == 0.5
    np.testing.assert_allclose(weights[top], np.sqrt(probs[top]), rtol=1e-6)
    assert set(np.flatnonzero(weights)) <= set(top)  # the tail of the softmax stays out
    row = np.zeros(7, np.float32)  # two views of a frame, the first label best in the second view
    conse._keep_top(row, np.array([0.04, 0.16, 0.0, 0.8, 0.0, 0.0, 0.0], np.float32))
    conse._keep_top(row, np.array([0.36, 0.01, 0.0, 0.63, 0.0, 0.0, 0.0], np.float32))
    np.testing.assert_allclose(row, [0.6, 0.4, 0.0, np.sqrt(0.8), 0.0, 0.0, 0.0], rtol=1e-6)
    monkeypatch.setattr(conse, "CLASSIFIER_POWER", 1.0)
    assert load_visual_bundle(load_settings()).image_encoder.key != encoder.key
