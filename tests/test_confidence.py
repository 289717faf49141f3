"""API-level scores (edge.confidence): bounded, monotonic, and not saturated by correlated samples."""

import numpy as np
import pytest

from edge.confidence import Confidence, SourceModel, semantic_features
from edge.scoring import Clip, Thresholds, class_result


@pytest.fixture(scope="module")
def shipped():
    return Confidence.load()


@pytest.mark.parametrize("source", ["visual", "conversation", "text_in_video"])
def test_clip_scores_are_bounded_and_monotonic(shipped, source):
    samples = np.linspace(0, 100, 1001, dtype=np.float32)
    clip = shipped[source].clip_scores(samples)
    assert np.all(clip >= 0) and np.all(clip <= 100)
    assert np.all(np.diff(clip) >= 0)


@pytest.mark.parametrize("source", ["visual", "conversation", "text_in_video"])
def test_video_score_is_bounded_and_rises_with_peak_and_support(shipped, source):
    model = shipped[source]
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 20, (30, 1)).astype(np.float32)
    scores = []
    for peak in (10, 40, 70, 95):
        series = base.copy()
        series[5] = peak
        scores.append(float(model.video_scores(series)[0]))
    assert all(0 <= s <= 100 for s in scores)
    assert scores == sorted(scores) and scores[-1] > scores[0]
    held = base.copy()
    held[5:8] = 95  # the same peak held over more samples is no weaker evidence
    assert float(model.video_scores(held)[0]) >= scores[-1] - 1e-6


def test_correlated_samples_do_not_saturate():
    """The old formula gave 99 to a class whose samples all sit at 90; a probability model need not."""
    model = SourceModel(1.0, 0.0, (0.0, 1.0, 0.0, 0.0, 0.0))  # class score = the peak's probability
    assert float(model.video_scores(np.full((60, 1), 90.0, np.float32))[0]) == pytest.approx(90.0, abs=0.01)


def test_exact_score_is_bounded_monotonic_and_zero_without_matches(shipped):
    for source in ("conversation", "text_in_video"):
        model = shipped[source]
        assert model.exact_score([]) == 0.0
        low, high = model.exact_score([40.0]), model.exact_score([95.0])
        assert 0 < low <= high <= 100
        # a match read word for word is no weaker evidence than one only a tolerant reading found
        assert model.exact_score([80.0], fuzzy_only=True) <= model.exact_score([80.0], fuzzy_only=False)


def test_a_score_file_fitted_on_other_features_is_refused(tmp_path):
    """Weights are read by position: a file whose features differ (an older fit) fails at load, naming them."""
    import json

    from edge.confidence import SCORES_FILE

    spec = json.loads(SCORES_FILE.read_text())
    spec["features"]["exact"] = ["peak", "log_count", "fuzzy_only"]
    old = tmp_path / "scores.json"
    old.write_text(json.dumps(spec))
    with pytest.raises(ValueError, match="fuzzy_only"):
        Confidence.load(old)


def test_features_of_an_empty_series_are_finite():
    assert np.isfinite(semantic_features(np.zeros((0, 3)))).all()


def test_class_result_reports_the_given_score_and_applies_thresholds():
    clips = [Clip(0, 5, 90, "visual", "p")]
    entry = class_result("cat", clips, 10.0, Thresholds(), include_clips=True, score=80.0)
    assert entry["score"] == 80.0 and entry["duration_ratio"] == 0.5
    assert class_result("cat", clips, 10.0, Thresholds(min_video_score=81), True, score=80.0) is None
    assert class_result("cat", [], 10.0, Thresholds(), True, score=80.0) is None


def test_composed_calibration_equals_sample_score_then_clip_probability():
    from edge.calibration import Calibration

    calibration, model = Calibration(a=1.5, b=1.9), SourceModel(clip_a=0.7, clip_b=-1.2)
    x = np.linspace(-3, 6, 50).astype(np.float32)
    np.testing.assert_allclose(
        model.compose(calibration).to_score(x), model.clip_scores(calibration.to_score(x)), rtol=1e-4, atol=1e-3
    )
