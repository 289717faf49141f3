"""On-screen text: the real PP-OCRv6 models on rendered text over photos, the change gate, and the tracker."""

from __future__ import annotations

import pytest

from edge.text_track import Reading, TextTracker, similarity

STEP = 1.0


# -- the tracker, on synthetic readings (no models) ---------------------------------------------


def _track(samples, **kwargs):
    tracker = TextTracker(STEP, **kwargs)
    for t, readings in enumerate(samples):
        tracker.update(float(t), readings)
    return tracker.finish(float(len(samples)))


def test_ocr_noise_is_one_span_with_the_majority_reading():
    noisy = ["SALE 50% OFF", "SALE 5O% OFF", "SALE 50% OFF", "SALE 50% 0FF", "SALE 50%OFF", "SALE 50% OFF"]
    samples = [[Reading(text, 0.9, (100 + i, 50 - i, 300 + i, 90))] for i, text in enumerate(noisy)]
    [span] = _track(samples)
    assert (span.start, span.end, span.text) == (0.0, 6.0, "SALE 50% OFF")
    assert 0.4 < span.confidence <= 0.9
    assert span.box == (100, 45, 305, 90)


def test_simultaneous_texts_are_separate_and_a_changed_caption_is_a_new_span():
    sign = Reading("OPEN 24 HOURS", 0.95, (500, 40, 700, 80))
    subs = ["The boats leave at dawn"] * 3 + ["Prices went up again"] * 2
    spans = _track([[sign, Reading(s, 0.9, (200, 300, 450, 330))] for s in subs])
    got = sorted((s.text, s.start, s.end) for s in spans)
    assert got == [
        ("OPEN 24 HOURS", 0.0, 5.0),
        ("Prices went up again", 3.0, 5.0),
        ("The boats leave at dawn", 0.0, 3.0),
    ]


def test_gone_text_that_comes_back_is_a_new_span_but_a_single_dropout_is_not():
    r = Reading("BREAKING NEWS", 0.9, (10, 300, 200, 330))
    spans = _track([[r], [r], [], [], [r], [r]])
    assert [(s.start, s.end) for s in spans] == [(0.0, 2.0), (4.0, 6.0)]
    spans = _track([[r], [r], [], [r]])  # one missed sample: an OCR dropout, not a disappearance
    assert [(s.start, s.end) for s in spans] == [(0.0, 4.0)]
    assert [(s.start, s.end) for s in _track([[r], [r], [], [r]], patience=0)] == [(0.0, 2.0), (3.0, 4.0)]


def test_a_scrolling_ticker_is_stitched_into_one_span():
    full = "MARKETS RALLY AS RATES HOLD STEADY * SPORTS: CITY WIN 3-1 * WEATHER: SUNNY"
    windows = [full[i : i + 30] for i in range(0, len(full) - 29, 9)]
    spans = _track([[Reading(w, 0.9, (0, 330, 640, 358))] for w in windows])
    assert len(spans) == 1 and spans[0].text.startswith(full[:30])
    assert similarity(spans[0].text, full[: len(spans[0].text)]) > 0.95 and len(spans[0].text) >= len(full) - 9


def test_carried_readings_extend_a_span_without_voting():
    read = Reading("EXIT", 0.9, (0, 0, 50, 20))
    carried = Reading("EXT", 0.99, (0, 0, 50, 20), fresh=False)
    [span] = _track([[read], [carried], [carried], [carried]])
    assert (span.text, span.end) == ("EXIT", 4.0)


def test_a_split_detection_does_not_start_a_second_span():
    whole, part = Reading("EDGE TV", 0.95, (1000, 10, 1200, 50)), Reading("TV", 0.9, (1150, 12, 1198, 48))
    spans = _track([[whole], [Reading("EDGE", 0.9, (1000, 10, 1120, 50)), part], [whole]])
    assert [(s.text, s.start, s.end) for s in spans] == [("EDGE TV", 0.0, 3.0)]


def test_junk_without_two_letters_is_dropped():
    assert _track([[Reading("|", 0.9, (0, 0, 5, 20))], [Reading("-.", 0.9, (0, 0, 5, 20))]]) == []


# -- the engine on stills -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(models_dir):
    from edge.ocr import OcrEngine

    return OcrEngine.from_store(models_dir, threads=2)


@pytest.fixture(scope="module")
def rgb_engine(models_dir):
    """As the indexer uses it: edge.decode.sample_frames yields RGB frames."""
    from edge.ocr import OcrEngine

    return OcrEngine.from_store(models_dir, threads=2, rgb=True)


CASES = [  # text, font, size px, x, y (negative: from the right/bottom), photo, frame size
    ("SALE 50% OFF", "DejaVuSerif-Bold", 30, 20, 30, "cat", (640, 360)),
    ("Platform 4", "DejaVuSans", 18, -20, -24, "coffee", (640, 360)),
    ("exit only", "DejaVuSansMono-Bold", 22, 250, 150, "rocket", (640, 360)),
    ("BREAKING NEWS", "hershey_duplex", 20, 30, -60, "astronaut", (640, 360)),
    ("Gate 12 closed", "hershey_simplex", 16, -30, 40, "camera", (640, 360)),
    ("Welcome to Lisbon", "DejaVuSans-Oblique", 26, 400, 300, "motorcycle", (1280, 720)),
]


@pytest.mark.parametrize("text,font,size,x,y,photo,frame", CASES, ids=[c[0] for c in CASES])
def test_engine_reads_rendered_text(engine, text, font, size, x, y, photo, frame):
    from text_video import TextItem, render_frame

    bgr = render_frame(photo, [TextItem(text, 0, 1, x, y, size, font)], size=frame)
    readings = engine(bgr)
    # Every character right; a space may be lost where a font sets words tightly (Hershey: "Gate12").
    assert any(r.text.replace(" ", "") == text.replace(" ", "") for r in readings), readings


def test_rgb_frames_are_read_like_bgr(engine, rgb_engine):
    from text_video import TextItem, render_frame

    bgr = render_frame(
        "coffee", [TextItem("Tickets at the gate", 0, 1, 40, 40, 28, plate=(200, 30, 30))], size=(640, 360)
    )
    assert [r.text for r in rgb_engine(bgr[..., ::-1].copy())] == [r.text for r in engine(bgr)]


def test_missing_models_fail_clearly_and_nothing_is_downloaded(tmp_path, monkeypatch, models_dir):
    import rapidocr.utils.download_file as download

    from edge.hashing import IntegrityError
    from edge.ocr import OcrEngine

    def no_network(*args, **kwargs):
        raise AssertionError("rapidocr tried to download")

    monkeypatch.setattr(download.DownloadFile, "run", no_network)
    with pytest.raises(FileNotFoundError, match="OCR model file missing"):
        OcrEngine(tmp_path / "det.onnx", tmp_path / "rec.onnx")
    with pytest.raises(IntegrityError, match="missing"):
        OcrEngine.from_store(tmp_path)
    OcrEngine.from_store(models_dir, use_cls=True).recognize([])  # the full set loads offline


# -- videos with text at known times --------------------------------------------------------------


def _read_video(path, engine, gate=True):
    from edge.decode import probe, sample_frames
    from edge.ocr import TextReader

    reader = TextReader(engine, STEP, gate=gate)
    for t, frame in sample_frames(path, 1 / STEP):
        reader.feed(t, frame)
    return reader.finish(probe(path).duration), reader.stats


def _matches(spans, truth):
    """For each true text (by index) the spans that read it (up to case and spaces, or one OCR slip)."""
    return [
        [s for s in spans if similarity(s.text, tr["text"]) >= 0.9 and s.start < tr["end"] and s.end > tr["start"]]
        for tr in truth
    ]


def _assert_timed(spans, truth):
    found = _matches(spans, truth)
    for tr, got in zip(truth, found):
        assert len(got) == 1, (tr, spans)
        # Samples fall on whole seconds: a span is within one sampling step of the truth.
        assert abs(got[0].start - tr["start"]) <= STEP and abs(got[0].end - tr["end"]) <= STEP, (tr, got)
    unexplained = [s for s in spans if not any(s in v for v in found)]
    assert not unexplained, unexplained


@pytest.fixture(scope="module")
def mixed_video(tmp_path_factory):
    """Sign, lower third, back-to-back subtitles and a text that comes back, over a hard cut."""
    from text_video import TextItem, write_text_video

    items = [
        TextItem("SALE 50% OFF", 4, 9, 380, 40, 30, "DejaVuSerif-Bold", color=(250, 230, 40), drift=(-2, 1)),
        TextItem("BREAKING NEWS", 2, 8, 20, -70, 22, "DejaVuSans-Bold", plate=(180, 20, 20)),
        TextItem("Welcome back to the show", 0, 2.5, 160, -20, 20, "DejaVuSans", plate=(16, 16, 16)),
        TextItem("The boats leave at dawn", 2.5, 5, 160, -20, 20, "DejaVuSans", plate=(16, 16, 16)),
        TextItem("Turn left at the bridge", 5, 7.5, 160, -20, 20, "DejaVuSans", plate=(16, 16, 16)),
        TextItem("See you next time", 8.5, 11, 160, -20, 20, "DejaVuSans", plate=(16, 16, 16)),
        TextItem("OPEN 24 HOURS", 1, 3, 30, 30, 18, "hershey_duplex"),
        TextItem("OPEN 24 HOURS", 10, 13, 30, 30, 18, "hershey_duplex"),
    ]
    path = tmp_path_factory.mktemp("ocr") / "mixed.mp4"
    return path, write_text_video(path, [("cat", 7), ("coffee", 7)], items, size=(640, 360), fps=5)


def test_texts_become_spans_within_one_step_of_the_truth(mixed_video, rgb_engine):
    path, truth = mixed_video
    spans, stats = _read_video(path, rgb_engine)
    by_text = {}
    for tr in truth:
        by_text.setdefault(tr["text"], []).append(tr)
    for text, trs in by_text.items():
        _assert_timed([s for s in spans if similarity(s.text, text) >= 0.9], trs)
    assert not [s for s in spans if not any(similarity(s.text, t) >= 0.9 for t in by_text)], spans
    # Two texts on screen at once are two spans; the sign and the lower third overlap in time.
    [sign], [news] = _matches(spans, [tr for tr in truth if tr["text"] in ("SALE 50% OFF", "BREAKING NEWS")])
    assert sign.start < news.end and news.start < sign.end and sign.box != news.box
    assert stats["ocr_samples"] < stats["samples"]


def test_a_ticker_is_one_span_with_its_words(tmp_path, rgb_engine):
    from text_video import TextItem, write_text_video

    text = "MARKETS RALLY AS RATES HOLD STEADY - CITY WIN THE CUP - SUNNY SPELLS TOMORROW"
    item = TextItem(text, 1, 9, 0, -6, 22, "DejaVuSans-Bold", plate=(10, 20, 110), scroll=150)
    path = tmp_path / "ticker.mp4"
    write_text_video(path, [("camera", 10)], [item], size=(640, 360), fps=5)
    spans, _ = _read_video(path, rgb_engine)
    assert 1 <= len(spans) <= 2, spans
    assert min(s.start for s in spans) <= 2 and max(s.end for s in spans) >= 8, spans
    read = " ".join(s.text for s in spans).upper()
    words = [w for w in text.split() if len(w) > 2]
    assert sum(w in read for w in words) >= 0.7 * len(words), spans


def test_no_text_no_spans(tmp_path, rgb_engine):
    from text_video import write_text_video

    path = tmp_path / "plain.mp4"
    write_text_video(path, [("coffee", 4), ("cat", 4)], [], size=(640, 360), fps=5)
    spans, stats = _read_video(path, rgb_engine)
    assert spans == [] and stats["ocr_samples"] <= 3, stats  # the first sample and the cut


def test_720p_gated_reading_matches_reading_every_sample(tmp_path, rgb_engine):
    """The gate saves work without losing text: same spans as OCR of every sample, on a 720p clip."""
    from text_video import typical_items, write_text_video

    path = tmp_path / "typical.mp4"
    truth = write_text_video(path, [("coffee", 10), ("astronaut", 10)], typical_items(20), fps=5)
    gated, g = _read_video(path, rgb_engine)
    every, e = _read_video(path, rgb_engine, gate=False)
    for spans in (gated, every):
        _assert_timed([s for s in spans if any(similarity(s.text, tr["text"]) >= 0.9 for tr in truth)], truth)
    assert [(s.text, s.start, s.end) for s in gated if s.confidence > 0.8] == [
        (s.text, s.start, s.end) for s in every if s.confidence > 0.8
    ]
    # Subtitles change every 2-3 s here, so most samples still need detection; recognition mostly not.
    assert g["ocr_samples"] < e["ocr_samples"] and g["recognised"] < 0.4 * e["recognised"], (g, e)


def test_unchanged_text_over_a_moving_camera_is_not_read_again(tmp_path, rgb_engine):
    from text_video import TextItem, write_text_video

    path = tmp_path / "static.mp4"
    items = [
        TextItem("EDGE TV", 0, 12, -16, 12, 18),
        TextItem("Live from the harbour", 0, 12, 40, -30, 22, plate=(20, 20, 20)),
    ]
    write_text_video(path, [("astronaut", 12)], items, size=(640, 360), fps=5)
    spans, stats = _read_video(path, rgb_engine)
    assert sorted((s.text, s.start, s.end) for s in spans) == [("EDGE TV", 0, 12), ("Live from the harbour", 0, 12)]
    assert stats["ocr_samples"] <= 3 and stats["recognised"] <= 4, stats  # the first sample, then max_gap_s


def test_small_text_appearing_mid_shot_on_a_busy_photo_is_caught_at_once(tmp_path, rgb_engine):
    """The gate's sensitivity: 18 px text (720p) over the astronaut's textures, without waiting for max_gap_s."""
    from text_video import TextItem, write_text_video

    path = tmp_path / "small.mp4"
    items = [
        TextItem("Exit 4", 3, 7, 700, 300, 18, "DejaVuSans"),
        TextItem("Platform closed", 3, 7, 200, 500, 18, "DejaVuSans-Bold"),
    ]
    truth = write_text_video(path, [("astronaut", 7)], items, fps=5)
    spans, stats = _read_video(path, rgb_engine)
    _assert_timed(spans, truth)
    assert stats["ocr_samples"] <= 3, stats
