"""The CPU decoder skips what no sample needs and still returns exactly the frames a full decode gives."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
from make_sample import write_rotated, write_static, write_video

from edge.decode import CpuDecoder
from edge.nvdec import _sample_plan
from edge.pipeline import fan_out


def _encode(path, seconds=6, fps=25, gop=None, bframes=None, size=(320, 240), params=None):
    """Moving noise (every frame differs) as H.264 with the given GOP length and B-frame count."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (size[1] * 2, size[0] * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        options = {"preset": "veryfast"}
        if gop:
            stream.codec_context.gop_size = gop
            options["sc_threshold"] = "0"
        if bframes is not None:
            options["bf"] = str(bframes)
        if params:
            options["x264-params"] = params
        stream.options = options
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[i % size[1] :][: size[1], i:][:, : size[0]]))
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    d = tmp_path_factory.mktemp("streams")
    return {
        "x264 defaults (long GOP, B-frames)": _encode(d / "long.mp4"),
        "camera (1 s GOP, no B-frames)": _encode(d / "camera.mp4", gop=25, bframes=0),
        "0.4 s GOP with B-frames": _encode(d / "short.mp4", gop=10, bframes=3),
        "open GOPs (0.4 s, B-frames before each keyframe)": _encode(
            d / "open.mp4", gop=10, bframes=3, params="open-gop=1"
        ),
        "sample (2 s GOP, scene cuts)": write_video(d / "cuts.mp4", [("cat", 2), ("coffee", 2.5)], size=(320, 240))
        and d / "cuts.mp4",
        "MPEG-4 part 2 fixed camera": (
            write_static(d / "static.mp4", seconds=5, size=(320, 240), fps=25),
            d / "static.mp4",
        )[1],
    }


@pytest.mark.parametrize("fps", [1.0, 0.5, 3.0, 7.0])
@pytest.mark.parametrize(
    "name",
    [
        "x264 defaults (long GOP, B-frames)",
        "camera (1 s GOP, no B-frames)",
        "0.4 s GOP with B-frames",
        "open GOPs (0.4 s, B-frames before each keyframe)",
        "sample (2 s GOP, scene cuts)",
        "MPEG-4 part 2 fixed camera",
    ],
)
def test_planned_decoding_gives_the_frames_of_a_full_decode(streams, name, fps):
    full = list(CpuDecoder(skip=False).samples(streams[name], fps))
    planned = list(CpuDecoder(skip=True).samples(streams[name], fps))
    assert [round(t, 4) for t, _ in planned] == [round(t, 4) for t, _ in full]
    assert len(full) >= 4 * fps
    for (_, a), (_, b) in zip(planned, full):
        assert np.array_equal(a, b)


def test_sample_times_lie_on_the_grid_at_the_first_frame_after_it(streams):
    times = [t for t, _ in CpuDecoder().samples(streams["camera (1 s GOP, no B-frames)"], 1.0)]
    assert times == pytest.approx([0, 1, 2, 3, 4, 5])


def test_nvdec_plans_the_samples_the_cpu_decoder_takes(streams):
    """NVDEC decodes frames by index; the plan it uses is computed on the CPU from packets alone."""
    for path in streams.values():
        times, indices, turns = _sample_plan(path, 1.0)
        assert times == pytest.approx([t for t, _ in CpuDecoder().samples(path, 1.0)])
        assert indices == sorted(indices) and turns == 0


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "portrait.mp4"
    write_rotated(path, seconds=1.0, rotate=90)
    ((_, frame),) = list(CpuDecoder().samples(path, 1.0))[:1]
    assert frame.shape == (1280, 720, 3)
    assert _sample_plan(path, 1.0)[2] == 3  # quarter turns for torch.rot90 on the GPU path: the same upright frame


@pytest.mark.parametrize(
    "name",
    [
        "x264 defaults (long GOP, B-frames)",
        "camera (1 s GOP, no B-frames)",
        "open GOPs (0.4 s, B-frames before each keyframe)",
    ],
)
def test_bursts_of_dense_frames_come_with_the_samples_exactly(streams, name):
    """The action windows' frames (16 at 8/s every 2 s) planned like the samples: the frames of a full decode."""
    bursts = (2.0, 16, 8.0)
    full = list(CpuDecoder(skip=False).samples(streams[name], 1.0, bursts))
    planned = list(CpuDecoder(skip=True).samples(streams[name], 1.0, bursts))
    assert [round(t, 4) for t, _ in planned] == [round(t, 4) for t, _ in full] and len(full) > 30
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(planned, full))
    assert _sample_plan(streams[name], 1.0, bursts)[0] == pytest.approx([t for t, _ in full])


def test_fan_out_hands_every_sample_to_every_consumer_in_order():
    seen = {"a": [], "b": []}
    threads = set()

    def consumer(name):
        def consume(t, frame):
            threads.add(threading.current_thread().name)
            seen[name].append((t, int(frame[0, 0])))

        return consume

    samples = ((float(i), np.full((2, 2), i, np.uint8)) for i in range(50))
    assert list(fan_out(samples, [consumer("a"), consumer("b")])) == [float(i) for i in range(50)]
    assert seen["a"] == seen["b"] == [(float(i), i) for i in range(50)]
    assert threads == {"frame-consumer"} and threading.current_thread().name not in threads


def test_a_failing_consumer_stops_decoding_and_its_error_is_raised():
    decoded = []

    def samples():
        for i in range(10_000):
            decoded.append(i)
            yield float(i), np.zeros((2, 2), np.uint8)

    def broken(t, frame):
        if t == 3:
            raise ValueError("model failed")

    with pytest.raises(ValueError, match="model failed"):
        list(fan_out(samples(), [broken, lambda t, f: None]))
    assert len(decoded) < 100
