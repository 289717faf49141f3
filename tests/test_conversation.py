"""conversation: real espeak-ng speech through PyAV, whisper.cpp and the text encoder; exact and semantic matching."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import classify_indexed, index_with_sources, run_edge

from edge.scoring import SPOKEN_CONTEXT_S
from edge.store import Store


@pytest.fixture(scope="module")
def speech(tmp_path_factory, models_dir):
    """The speech media, indexed once for the module (visual + conversation) into its own store."""
    from speech_media import make_speech_media

    folder = tmp_path_factory.mktemp("speech")
    truth = make_speech_media(folder)
    return {
        **index_with_sources(folder, tmp_path_factory.mktemp("speech-home"), ("visual", "conversation")),
        "truth": truth,
    }


def _classify(speech, videos, classes, option="semantic", **threshold):
    return classify_indexed(speech, videos, "conversation", classes, option, **threshold)


def test_transcript_is_english_with_few_errors(speech):
    from bench_speech import word_error_rate

    timed = speech["store"].timed_text(speech["ids"]["news.mp4"], "conversation", speech["text"].key("conversation"))
    assert timed.language == "en"
    hypothesis = " ".join(w["text"] for w in timed.items)
    assert word_error_rate(speech["truth"]["news.mp4"]["text"], hypothesis) <= 0.25
    starts = [w["start"] for w in timed.items]
    assert starts == sorted(starts) and all(w["start"] <= w["end"] for w in timed.items)


def test_semantic_finds_the_weather_forecast_span(speech):
    # At 50 rather than the default clip threshold of 30: Whisper hears the band sentence after the sport news
    # as "the school and the sport a new saxophone", loosely about sport (32), which extends the clip at 30.
    result = _classify(
        speech,
        ["news.mp4"],
        [{"name": "weather", "prompts": ["weather forecast"]}, {"name": "sport", "prompts": ["football results"]}],
        min_clip_score=50,
    )
    classes = {c["name"]: c for c in result["data"][0]["classes"]}
    truth = speech["truth"]["news.mp4"]["truth"]
    best = max(classes["weather"]["clips"], key=lambda c: c["score"])
    assert best["option"] == "conversation" and best["score"] >= 75
    assert abs(best["start"] - truth["weather"][0]) <= 1.0 and abs(best["end"] - truth["weather"][1]) <= 1.0
    sport = max(classes["sport"]["clips"], key=lambda c: c["score"])
    assert abs(sport["start"] - truth["sport"][0]) <= 1.0 and abs(sport["end"] - truth["sport"][1]) <= 1.0


def test_exact_match_finds_a_rare_keyword_with_its_word_times(speech):
    result = _classify(
        speech,
        ["news.mp4"],
        [{"name": "sax", "prompts": ["Saxophone"]}, {"name": "phone", "prompts": ["phone"]}],
        option="exact_match",
    )
    (video,) = result["data"]
    (cls,) = video["classes"]  # "phone" is only part of a word: no hit
    (clip,) = cls["clips"]
    start, end = speech["truth"]["news.mp4"]["truth"]["keyword"]
    assert cls["name"] == "sax" and clip["prompt"] == "Saxophone"
    # the word's own times, with SPOKEN_CONTEXT_S of sound either side
    assert abs(clip["start"] - max(0.0, start - SPOKEN_CONTEXT_S)) <= 0.5
    assert abs(clip["end"] - (end + SPOKEN_CONTEXT_S)) <= 0.5


@pytest.mark.parametrize("option", ["semantic", "exact_match"])
def test_silence_music_and_no_audio_return_nothing(speech, option):
    classes = [
        {"name": "weather", "prompts": ["weather forecast", "rain"]},
        {"name": "talk", "prompts": ["somebody speaking", "thank you", "music"]},
    ]
    result = _classify(speech, ["silent.mp4", "music.mp4", "noaudio.mp4"], classes, option)
    assert result["data"] == []
    for name in ("silent.mp4", "music.mp4", "noaudio.mp4"):
        timed = speech["store"].timed_text(speech["ids"][name], "conversation", speech["text"].key("conversation"))
        assert timed.items == [] and timed.language is None


def test_class_overrides_choose_exact_or_semantic(speech):
    classes = [
        {"name": "sax-exact", "prompts": ["saxophone"], "conversation_option": "exact_match"},
        {"name": "weather-semantic", "prompts": ["the weather tomorrow"]},
    ]
    result = _classify(speech, ["news.mp4"], classes, option="semantic")
    names = {c["name"]: c for c in result["data"][0]["classes"]}
    assert len(names["sax-exact"]["clips"]) == 1
    assert names["weather-semantic"]["clips"]


def test_cli_transcript_and_exact_match(speech):
    news = str(speech["folder"] / "news.mp4")
    code, payload, err = run_edge("transcript", news, env=speech["env"])
    assert code == 0, err
    assert payload["language"] == "en" and "saxophone" in " ".join(w["text"].lower() for w in payload["words"])
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "transcript", payload["video_id"], "--format", "text"],
        capture_output=True,
        text=True,
        env={**os.environ, **speech["env"]},
    )
    assert re.match(r"\[00:0\d\.\d - 00:\d\d\.\d\] Good evening", proc.stdout), proc.stdout
    code, result, err = run_edge(
        "classify",
        "--video",
        payload["video_id"],
        "--class",
        "sax: saxophone",
        "--options",
        "conversation",
        "--conversation-option",
        "exact_match",
        "--include-clips",
        "--min-duration-ratio",
        "0.01",
        "--min-video-score",
        "1",
        env=speech["env"],
    )
    assert code == 0, err
    (clip,) = result["data"][0]["classes"][0]["clips"]
    assert abs(clip["start"] + SPOKEN_CONTEXT_S - speech["truth"]["news.mp4"]["truth"]["keyword"][0]) <= 0.5
    code, listing, err = run_edge("videos", env=speech["env"])
    evidence = {v["filename"]: v["evidence"] for v in listing["videos"]}
    assert evidence["news.mp4"]["conversation"]["language"] == "en" and set(evidence["news.mp4"]) == {
        "visual",
        "conversation",
    }
    assert evidence["noaudio.mp4"]["conversation"] == {"model_key": speech["text"].key("conversation"), "segments": 0}


def test_the_language_is_detected_not_assumed(speech):
    from speech_media import speak

    german = speak(
        "Morgen wird es im ganzen Land regnen, und am Abend kommt ein starker Wind aus dem Westen.", voice="de"
    )
    transcript = speech["text"].transcriber.transcribe(german)
    assert transcript.language == "de" and "starker wind" in transcript.text.lower()


def test_a_broken_audio_track_is_reported_and_the_pictures_still_indexed(speech, tmp_path):
    from speech_media import write_broken_audio

    from edge.bundles import load_visual_bundle
    from edge.indexer import Indexer

    video = tmp_path / "broken_audio.mp4"
    write_broken_audio(video)
    store, bundle = Store(tmp_path / "edge.sqlite"), load_visual_bundle(speech["settings"])
    report = Indexer(store, bundle, 1.0, speech["text"], ("visual", "conversation")).index([video])
    (entry,) = report.indexed
    assert not report.failed and "audio track" in entry["warnings"][0] and "broken" in entry["warnings"][0]
    assert store.has_segments(entry["video_id"], "visual", bundle.key)
    assert not store.has_segments(entry["video_id"], "conversation", speech["text"].key("conversation"))


def test_tokens_join_into_words_timed_by_dtw_even_across_split_characters():
    from edge.speech import _join_tokens

    # "Tōkyō 東京 Now" with 東 split over two tokens; DTW times mark where each token ends
    pieces = [
        (b" T", 1.2, 0.9),
        (b"\xc5\x8dky\xc5\x8d", 1.6, 0.8),
        (b" \xe6\x9d", 1.9, 0.7),
        (b"\xb1\xe4\xba\xac", 2.0, 0.9),
        (b".", 2.1, 0.9),
        (b" Now", 9.0, 0.9),
    ]
    words = _join_tokens(pieces, previous_end=1.0, bounds=(0.0, 10.0))
    assert [w.text for w in words] == ["Tōkyō", "東京.", "Now"]
    assert (words[0].start, words[0].end) == pytest.approx((1.1, 1.6))  # 0.1 + 0.08 s per letter before its end
    assert (words[1].start, words[1].end) == pytest.approx((1.76, 2.1))
    assert words[2].start == pytest.approx(8.66)  # after a pause: not back at 2.1


def test_a_source_added_later_is_extracted_alone(speech, tmp_path):
    from edge.bundles import load_visual_bundle
    from edge.indexer import Indexer

    store, bundle = Store(tmp_path / "edge.sqlite"), load_visual_bundle(speech["settings"])
    video = speech["folder"] / "silent.mp4"
    first = Indexer(store, bundle, 1.0, speech["text"], ("visual",)).index([video])
    assert first.indexed[0]["sources"] == ["visual"]
    visual = store.segments(first.indexed[0]["video_id"], "visual", bundle.key)
    both = Indexer(store, bundle, 1.0, speech["text"], ("visual", "conversation"))
    second = both.index([video])
    assert second.indexed[0]["sources"] == ["conversation"]  # the pictures are not decoded again
    assert (
        store.segments(first.indexed[0]["video_id"], "visual", bundle.key).vectors.tobytes() == visual.vectors.tobytes()
    )
    assert (
        both.index([video]).unchanged
        and store.timed_text(first.indexed[0]["video_id"], "conversation", speech["text"].key("conversation")).items
        == []
    )
