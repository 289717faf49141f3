"""Static footage is encoded only where it changes, and a small object entering still counts as a change."""

import numpy as np
from make_sample import write_static

from edge.decode import probe
from edge.sampling import ChangeGate, VisualSampler, scan_samples


class CountingEncoder:
    """A stand-in image encoder that records how many frames it was given (the gate is under test here)."""

    dim = 4
    key = "counting"

    def __init__(self):
        self.frames = 0

    def encode(self, frames):
        self.frames += len(frames)
        means = np.array([f.reshape(-1, 3).mean(axis=0).tolist() + [1.0] for f in frames], np.float32)
        return means / np.linalg.norm(means, axis=1, keepdims=True)


def test_static_video_is_encoded_only_when_it_changes(tmp_path):
    video = tmp_path / "static.mp4"
    write_static(video, seconds=20, object_from=12.0)
    encoder = CountingEncoder()
    sampler = VisualSampler(encoder)
    segments = sampler.segments(*scan_samples(video, probe(video), 1.0, [sampler.feed]))
    encoded = sampler.encoded
    assert len(segments.starts) == 20
    assert encoded == encoder.frames == 2  # the first sample, and the one where the object appeared
    vectors = segments.vectors.astype(np.float32)
    assert np.array_equal(vectors[0], vectors[11]) and np.array_equal(vectors[12], vectors[19])
    assert not np.array_equal(vectors[11], vectors[12])


def test_gate_reencodes_after_max_gap_and_on_any_large_change():
    gate = ChangeGate(threshold=4.0, max_gap_s=30.0)
    frame = np.full((90, 160, 3), 100, np.uint8)
    assert gate.changed(0.0, frame) and not gate.changed(1.0, frame) and gate.changed(30.0, frame)
    brighter = frame + 10
    assert gate.changed(31.0, brighter) and not gate.changed(32.0, brighter + 2)


class MixingEncoder:
    """A stand-in ConSE-style encoder with actions: frame mixes not yet unit length, action labels mixed in
    at the end (the shapes edge.conse gives VisualSampler)."""

    dim, key, action_every_s = 4, "mixing", 4.0

    def __init__(self):
        rng = np.random.default_rng(0)
        self.action_vectors = rng.normal(size=(3, 4)).astype(np.float32)
        self.actions = type("Labels", (), {"labels": ["kick", "wave", "run"]})()

    def frame_mix(self, frames):
        return np.array([f.reshape(-1, 3)[:4].mean(axis=1) / 255 + 0.5 for f in frames], np.float32)

    def with_actions(self, mixes, weights):
        out = mixes + weights @ self.action_vectors
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_actions_join_the_samples_in_chunks_with_the_same_vectors(monkeypatch):
    """A 10-hour file's samples get their action weights a chunk at a time (bounded memory at its end); chunk
    edges, the change gate's reused vectors and windows speaking for samples across a chunk edge change nothing."""
    from edge import sampling
    from edge.actions import Window

    rng = np.random.default_rng(1)
    frames = [np.full((18, 32, 3), v, np.uint8) for v in rng.choice([40, 40, 90, 200], size=23)]
    starts = np.arange(23, dtype=np.float32)
    windows = [
        Window(0.0, 1.33, np.array([0.9, 0.0, 0.1], np.float32)),
        Window(4.0, 5.33, None),  # no motion: no evidence for the samples around it
        Window(8.0, 9.33, np.array([0.0, 0.7, 0.0], np.float32)),
        Window(12.0, 13.33, np.array([0.0, 0.0, 0.5], np.float32)),
    ]

    def run(chunk):
        monkeypatch.setattr(sampling, "_FINISH_CHUNK", chunk)
        sampler = VisualSampler(MixingEncoder())
        monkeypatch.setattr(sampler.actions, "finish", lambda: windows)
        for t, f in zip(starts, frames):
            sampler.feed(float(t), f)
        return sampler.segments(starts, starts + 1), sampler.encoded

    (whole, encoded), _ = run(10**6), None
    assert encoded < 23  # the gate reused vectors, also across chunk edges
    for chunk in (2, 5, 13):  # 13: a chunk starts on the second batch's first vector
        chunked, _ = run(chunk)
        np.testing.assert_array_equal(chunked.vectors, whole.vectors)
        assert chunked.vectors.dtype == np.float16
    vectors = whole.vectors.astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)
    mixes = MixingEncoder().frame_mix(frames)
    plain = mixes / np.linalg.norm(mixes, axis=1, keepdims=True)
    # samples 0-1 and 8-9 take their window's actions, sample 5 (beside a still window) and 17+ none
    moved = ~np.isclose(vectors, plain, atol=2e-3).all(axis=1)
    assert moved[[0, 1, 8, 9, 12, 13]].all() and not moved[[5, 17, 22]].any()
