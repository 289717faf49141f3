"""Checks that scripts/make_sample.py produces the media the rest of the suite relies on."""

import importlib.util
import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "make_sample", Path(__file__).resolve().parents[1] / "scripts" / "make_sample.py"
)
ms = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ms)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return out, ms.make_sample(out)


def _frame_at(path, seconds):
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, round(seconds * cap.get(cv2.CAP_PROP_FPS)))
    ok, bgr = cap.read()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _hist(rgb):
    h = cv2.calcHist([np.ascontiguousarray(rgb)], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
    return cv2.normalize(h, None).flatten()


def _looks_like(frame, name, other):
    """Centre crop (no letterbox bars) correlates better with `name` than with `other`."""
    h, w = frame.shape[:2]
    centre = _hist(frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4])
    corr = {n: cv2.compareHist(centre, _hist(ms.PHOTOS[n]()), cv2.HISTCMP_CORREL) for n in (name, other)}
    return corr[name] > corr[other], corr


def _decodable_frames(path):
    n = 0
    try:
        with av.open(str(path)) as c:
            for _ in c.decode(video=0):
                n += 1
    except av.error.FFmpegError:
        pass  # a damaged tail ends decoding; what came before still counts
    return n


@pytest.mark.parametrize("name", sorted(ms.PHOTOS))
def test_photos_load_offline(name):
    img = ms.PHOTOS[name]()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_sample_files_and_spans(sample):
    out, report = sample
    spans = json.loads((out / "spans.json").read_text())
    assert spans["cat_coffee.mp4"] == [
        {"label": "cat", "start": 0.0, "end": 6.0},
        {"label": "coffee", "start": 6.0, "end": 12.0},
    ]
    assert spans["rocket.mp4"] == [{"label": "rocket", "start": 0.0, "end": 8.0}]
    assert {k: v["spans"] for k, v in report.items() if "spans" in v} == spans


@pytest.mark.parametrize("name,seconds", [("cat_coffee.mp4", 12), ("rocket.mp4", 8)])
def test_video_opens_with_expected_length(sample, name, seconds):
    cap = cv2.VideoCapture(str(sample[0] / name))
    assert cap.isOpened()
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    assert abs(cap.get(cv2.CAP_PROP_FRAME_COUNT) - seconds * 25) <= 1
    with av.open(str(sample[0] / name)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name in ("h264", "mpeg4")
        assert abs(float(v.duration * v.time_base) - seconds) <= 1 / 25


def test_audio_track_only_where_asked(sample):
    with av.open(str(sample[0] / "cat_coffee.mp4")) as c:
        (a,) = c.streams.audio
        assert (a.codec_context.name, a.rate, a.channels) == ("aac", 16000, 1)
        assert abs(float(a.duration * a.time_base) - 12) < 0.1
    with av.open(str(sample[0] / "rocket.mp4")) as c:
        assert not c.streams.audio


@pytest.mark.parametrize(
    "t,name,other", [(3, "cat", "coffee"), (9, "coffee", "cat"), (0.5, "cat", "coffee"), (11.5, "coffee", "cat")]
)
def test_frames_show_the_right_photo(sample, t, name, other):
    better, corr = _looks_like(_frame_at(sample[0] / "cat_coffee.mp4", t), name, other)
    assert better, corr


def test_consecutive_frames_differ(sample):
    a, b = (_frame_at(sample[0] / "rocket.mp4", t) for t in (4.0, 4.04))
    assert 0 < np.abs(a.astype(int) - b).mean() < 10  # moving, but the same shot


def test_deterministic(tmp_path):
    arr = np.zeros((90, 160, 3), np.uint8)
    arr[:, :80] = (200, 30, 30)
    spans = [("coffee", 0.4), (arr, 0.4)]
    tone = ms.room_tone(1.0)
    a = ms.write_video(tmp_path / "a.mp4", spans, size=(320, 180), audio=tone)
    b = ms.write_video(tmp_path / "b.mp4", spans, size=(320, 180), audio=tone)
    assert a == b == [{"label": "coffee", "start": 0.0, "end": 0.4}, {"label": "array", "start": 0.4, "end": 0.8}]
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_mp4v_codec(tmp_path):
    ms.write_video(tmp_path / "m.mp4", [("rocket", 0.4)], size=(320, 180), codec="mp4v")
    with av.open(str(tmp_path / "m.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
    assert cv2.VideoCapture(str(tmp_path / "m.mp4")).read()[0]


def test_zero_byte(tmp_path):
    ms.write_zero_byte(tmp_path / "z.mp4")
    assert (tmp_path / "z.mp4").stat().st_size == 0
    assert not cv2.VideoCapture(str(tmp_path / "z.mp4")).isOpened()


def test_not_a_video(tmp_path):
    ms.write_not_a_video(tmp_path / "n.mp4")
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(tmp_path / "n.mp4"))


def test_truncated_is_shorter(sample, tmp_path):
    src = sample[0] / "cat_coffee.mp4"
    ms.write_truncated(src, tmp_path / "t.mp4", keep_fraction=0.3)
    assert (tmp_path / "t.mp4").stat().st_size == int(src.stat().st_size * 0.3)
    # Index is up front (faststart), so it still opens and yields the first part only.
    assert 0 < _decodable_frames(tmp_path / "t.mp4") < 300 * 0.5


@pytest.mark.parametrize("suffix", [".m4a", ".mp4"])
def test_audio_only(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    ms.write_audio_only(path, seconds=2.0)
    with av.open(str(path)) as c:
        assert not c.streams.video
        (a,) = c.streams.audio
        assert a.codec_context.name == "aac"
        assert abs(c.duration / 1e6 - 2.0) < 0.1


def test_rotated(tmp_path):
    path = tmp_path / "r.mp4"
    ms.write_rotated(path, seconds=0.4)
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (1280, 720)  # stored landscape...
    auto = _frame_at(path, 0.2)  # ...but OpenCV applies the tag by default
    assert auto.shape == (1280, 720, 3)
    upright = ms.write_video(tmp_path / "p.mp4", [("astronaut", 0.4)], size=(720, 1280))
    assert upright == [{"label": "astronaut", "start": 0.0, "end": 0.4}]
    assert np.abs(auto.astype(int) - _frame_at(tmp_path / "p.mp4", 0.2)).mean() < 5
