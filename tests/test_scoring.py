"""Scoring math on hand-computed cases."""

import numpy as np
import pytest

from edge.calibration import Calibration
from edge.scoring import class_result, find_clips, finish_video, sample_scores, union_length
from edge.types import Clip, Thresholds


def test_clips_are_maximal_runs_at_or_above_threshold():
    starts = np.arange(8, dtype=np.float32)
    scores = np.array([10, 30, 50, 29, 80, 90, 20, 30], np.float32)
    cols = np.array([0, 0, 1, 0, 1, 0, 0, 1])
    clips = find_clips(starts, starts + 1, scores, 30, "visual", lambda i: f"p{cols[i]}")
    assert [(c.start, c.end, c.score, c.prompt) for c in clips] == [
        (1, 3, 50, "p1"),
        (4, 6, 90, "p0"),
        (7, 8, 30, "p1"),
    ]
    assert all(c.option == "visual" for c in clips)


def test_no_clip_when_nothing_reaches_threshold():
    starts = np.arange(3, dtype=np.float32)
    assert find_clips(starts, starts + 1, np.array([1, 2, 3], np.float32), 30, "visual", str) == []


def test_union_length_merges_overlaps_and_caps_at_duration():
    clips = [Clip(0, 4, 50, "visual", "p"), Clip(2, 6, 50, "conversation", "p"), Clip(8, 12, 50, "visual", "p")]
    assert union_length(clips, 10.0) == pytest.approx(8.0)


def test_thresholds_and_shape():
    clips = [Clip(0, 5, 90, "visual", "p")]
    entry = class_result("cat", clips, 10.0, Thresholds(), include_clips=True, score=94.05)
    assert entry["score"] == pytest.approx(94.05) and entry["duration_ratio"] == 0.5
    assert entry["clips"] == [{"start": 0, "end": 5, "score": 90, "option": "visual", "prompt": "p", "_peak": 2.5}]
    assert class_result("cat", clips, 10.0, Thresholds(min_duration_ratio=0.51), True, score=94.05) is None
    assert class_result("cat", clips, 10.0, Thresholds(min_video_score=95), True, score=94.05) is None
    assert "clips" not in class_result("cat", clips, 10.0, Thresholds(), include_clips=False, score=94.05)


def test_detailed_scores_and_ordering():
    a = class_result(
        "a", [Clip(0, 5, 90, "visual", "p"), Clip(6, 8, 60, "visual", "p")], 10.0, Thresholds(), False, score=95.13
    )
    b = class_result("b", [Clip(0, 10, 80, "visual", "q")], 10.0, Thresholds(), False, score=92.8)
    classes = finish_video([a, b], detailed=True)
    assert [c["name"] for c in classes] == ["a", "b"]
    assert [c["score"] for c in classes] == [pytest.approx(95.13), pytest.approx(92.8)]
    assert classes[0]["detailed_scores"] == {
        "max_score": 90,
        "avg_score": 75,
        "normalized_score": round(100 * 95.13 / (95.13 + 92.8), 2),
    }
    single = finish_video([class_result("x", [Clip(0, 5, 90, "visual", "p")], 10.0, Thresholds(), False, 90.0)], True)
    assert single[0]["detailed_scores"]["normalized_score"] == 100


def test_sample_scores_take_max_over_each_class_prompts_before_calibrating():
    vectors = np.eye(3, dtype=np.float16)  # three segments, each pointing along one axis
    prompts = np.eye(3, dtype=np.float32)[[0, 1, 2]]  # class 0 owns prompts 0 and 1, class 1 owns prompt 2
    calibration = Calibration(a=10.0, b=0.5)
    scores, features = sample_scores(
        vectors.astype(np.float32), prompts, np.zeros(3, np.float32), np.array([0, 2]), calibration.to_score
    )
    high, low = 100 / (1 + np.exp(-5)), 100 / (1 + np.exp(5))
    np.testing.assert_allclose(scores, [[high, low], [high, low], [low, high]], rtol=1e-5)
    np.testing.assert_array_equal(features, np.eye(3))


def test_zscore_calibration_uses_reference_statistics():
    reference = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], np.float32)
    calibration = Calibration(a=1.0, b=0.0, reference=reference)
    prompt = np.array([[1, 0]], np.float32)
    matrix, offset = calibration.prompt_transform(prompt)
    # cosines with the reference: 1, 0, -1, 0 -> mean 0, std sqrt(0.5)
    assert matrix[0, 0] == pytest.approx(1 / np.sqrt(0.5)) and offset[0] == pytest.approx(0.0)
    assert Calibration.from_dict({"kind": "logistic", "feature": "cosine", "a": 2, "b": 0.3}).reference is None
    with pytest.raises(ValueError):
        Calibration.from_dict({"kind": "logistic", "feature": "zscore", "a": 2, "b": 0.3})
    shifted = np.array([[0.6, 0.8]], np.float32)  # cosines 0.6, 0.8, -0.6, -0.8: mean 0, std 0.7071
    assert calibration.prompt_transform(shifted)[1][0] == pytest.approx(0.0, abs=1e-6)


def test_centered_zscore_removes_each_segments_own_closeness_to_everything():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 8)).astype(np.float32) + 0.5  # off-centre, like real sentence embeddings
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    prompts, segments = rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=(4, 8)).astype(np.float32)
    calibration = Calibration(a=1.0, b=0.0, reference=reference, centered=True)
    matrix, offset = calibration.prompt_transform(prompts)
    sims = prompts @ reference.T
    own = segments @ reference.T  # each segment's similarity to the reference set
    expected = (segments @ prompts.T - sims.mean(1)) - (
        own.mean(1, keepdims=True) - (reference.mean(0) @ reference.mean(0))
    )
    np.testing.assert_allclose(segments @ matrix.T - offset, expected / sims.std(1), rtol=1e-4, atol=1e-5)


def test_robust_reference_statistics_ignore_the_few_reference_texts_about_the_prompt():
    """A reference of unrelated texts plus two that match the prompt (a "street sign" prompt meets MAIN STREET):
    mean and std let those two lower a real match's z-score; median and MAD do not."""
    rng = np.random.default_rng(1)

    def texts(similarity: np.ndarray) -> np.ndarray:
        """Unit vectors whose cosine with the prompt (axis 0) is `similarity`."""
        rest = rng.normal(size=(len(similarity), 15))
        rest *= (np.sqrt(1 - similarity**2) / np.linalg.norm(rest, axis=1))[:, None]
        return np.hstack([similarity[:, None], rest]).astype(np.float32)

    prompt = np.eye(1, 16, dtype=np.float32)
    unrelated = texts(rng.normal(0.3, 0.05, 60))
    match = texts(np.array([0.6]))

    def z(reference, robust):
        matrix, offset = Calibration(a=1.0, b=0.0, reference=reference, robust=robust).prompt_transform(prompt)
        return float((match @ matrix.T - offset)[0, 0])

    with_outliers = np.vstack([unrelated, texts(np.array([0.9, 0.85]))])
    assert z(with_outliers, robust=True) > 1.5 * z(with_outliers, robust=False) > 0
    # on a reference about nothing in particular both statistics agree closely
    assert z(unrelated, robust=True) == pytest.approx(z(unrelated, robust=False), rel=0.2)


def test_reference_statistics_are_read_from_the_calibration_spec():
    reference = np.eye(4, dtype=np.float32)
    spec = {"kind": "logistic", "feature": "zscore_centered", "a": 2, "b": 0.3}
    assert not Calibration.from_dict(spec, reference).robust
    assert Calibration.from_dict({**spec, "statistics": "median_mad"}, reference).robust
    with pytest.raises(ValueError, match="statistics"):
        Calibration.from_dict({**spec, "statistics": "trimmed"}, reference)
