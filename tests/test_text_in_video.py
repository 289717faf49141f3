"""text_in_video through the indexer and classify: real OCR models, rendered signs and captions, exact and semantic."""

from __future__ import annotations

import pytest
from conftest import classify_indexed, index_with_sources, run_edge

STEP = 1.0


@pytest.fixture(scope="module")
def screen(tmp_path_factory, models_dir):
    """Three short 640x360 videos indexed (visual + text_in_video) once for the module."""
    from text_video import TextItem, write_text_video

    folder = tmp_path_factory.mktemp("screen")
    size = (640, 360)
    truth = {
        "sale.mp4": write_text_video(
            folder / "sale.mp4",
            [("coffee", 12)],
            [TextItem("SALE 50% OFF", 4.0, 9.0, 200, 60, 40, "DejaVuSerif-Bold", color=(250, 230, 40))],
            size,
        ),
        "news.mp4": write_text_video(
            folder / "news.mp4",
            [("astronaut", 6), ("cat", 6)],
            [
                TextItem("BREAKING NEWS", 2.0, 10.0, 20, -70, 28, "DejaVuSans-Bold", plate=(180, 20, 20)),
                TextItem("Crowds gather at the harbour", 3.0, 7.0, 160, -24, 18, "DejaVuSans", plate=(16, 16, 16)),
            ],
            size,
        ),
        "plain.mp4": write_text_video(folder / "plain.mp4", [("rocket", 5), ("coffee", 5)], [], size),
    }
    return {
        **index_with_sources(folder, tmp_path_factory.mktemp("screen-home"), ("visual", "text_in_video")),
        "truth": truth,
    }


def _classify(screen, videos, classes, option="semantic", **threshold):
    """Classes by video name, for the videos with any class."""
    result = classify_indexed(screen, videos, "text_in_video", classes, option, **threshold)
    names = {video_id: name for name, video_id in screen["ids"].items()}
    return {names[v["video_id"]]: {c["name"]: c for c in v["classes"]} for v in result["data"]}


def test_a_sale_sign_is_found_exactly_with_its_span(screen):
    found = _classify(
        screen,
        ["sale.mp4", "news.mp4", "plain.mp4"],
        [{"name": "sale", "prompts": ["sale"]}, {"name": "wholesale", "prompts": ["wholesale"]}],
        option="exact_match",
    )
    assert set(found) == {"sale.mp4"} and set(found["sale.mp4"]) == {"sale"}
    (clip,) = found["sale.mp4"]["sale"]["clips"]
    assert clip["option"] == "text_in_video" and clip["score"] >= 80
    assert abs(clip["start"] - 4.0) <= STEP and abs(clip["end"] - 9.0) <= STEP


def test_a_lower_third_is_found_semantically(screen):
    found = _classify(
        screen,
        ["sale.mp4", "news.mp4", "plain.mp4"],
        [{"name": "breaking", "prompts": ["breaking news banner"]}],
        min_clip_score=75,
    )
    assert set(found) == {"news.mp4"}
    best = max(found["news.mp4"]["breaking"]["clips"], key=lambda c: c["score"])
    assert abs(best["start"] - 2.0) <= STEP and abs(best["end"] - 10.0) <= STEP


def test_no_text_and_unrelated_text_give_nothing(screen):
    classes = [
        {"name": "sale", "prompts": ["sale", "discount"]},
        {"name": "cooking", "prompts": ["a cooking recipe"]},
        {"name": "party", "prompts": ["birthday party"]},
    ]
    assert _classify(screen, ["plain.mp4"], classes, option="exact_match") == {}
    # the news video's texts (a headline banner, a harbour caption) are about none of these
    assert _classify(screen, ["plain.mp4", "news.mp4"], classes, min_clip_score=75) == {}
    spans = screen["store"].timed_text(screen["ids"]["plain.mp4"], "text_in_video", screen["text"].key("text_in_video"))
    assert spans.items == []


def test_spans_are_stored_with_boxes_and_shown_by_the_cli(screen):
    code, payload, err = run_edge(
        "transcript", screen["ids"]["news.mp4"], "--source", "text_in_video", env=screen["env"]
    )
    assert code == 0, err
    texts = {s["text"]: s for s in payload["spans"]}
    assert "BREAKING NEWS" in texts and "Crowds gather at the harbour" in texts
    caption = texts["Crowds gather at the harbour"]
    assert abs(caption["start"] - 3.0) <= STEP and abs(caption["end"] - 7.0) <= STEP
    x0, y0, x1, y1 = caption["box"]
    assert 150 <= x0 < x1 <= 640 and 300 <= y0 < y1 <= 360 and caption["confidence"] > 0.8


def test_the_sdk_finds_the_sign_over_http(screen, monkeypatch, tmp_path):
    from conftest import serving
    from twelvelabs import TwelveLabs

    env = {**screen["env"], "EDGE_API_KEYS": ""}
    with serving(env, tmp_path / "server.log") as (_, base):
        monkeypatch.setenv("TWELVELABS_BASE_URL", base)
        client = TwelveLabs(api_key="local")
        result = client.classify.videos(
            [screen["ids"]["sale.mp4"], screen["ids"]["plain.mp4"]],
            ["text_in_video"],
            [{"name": "sale", "prompts": ["sale 50% off"]}],
            conversation_option="exact_match",
            include_clips=True,
            threshold={"min_video_score": 1, "min_duration_ratio": 0.01},
        )
    (video,) = result.data
    assert video.video_id == screen["ids"]["sale.mp4"]
    (clip,) = video.classes[0].clips
    assert clip.option == "text_in_video" and abs(clip.start - 4.0) <= STEP and abs(clip.end - 9.0) <= STEP
