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
