"""Exact matching rules for spoken words and on-screen text, and the clips they make (no models needed)."""

import numpy as np

from edge.scoring import ExactText, segment_clips
from edge.textmatch import TimedText, normalise, screen_text_matches, sentence_windows, spoken_hits


def _words(text: str, step: float = 0.5) -> list[TimedText]:
    return [TimedText(i * step, i * step + 0.4, w) for i, w in enumerate(text.split())]


def test_normalise_ignores_case_punctuation_and_diacritics():
    assert normalise("Café, CRÈME-brûlée! Don't") == ["cafe", "creme", "brulee", "dont"]


def test_spoken_hits_whole_words_only_with_times():
    words = _words("The category of this cat is clear; a cat. Concatenate")
    hits = spoken_hits(words, "Cat")
    assert [(h.start, h.end) for h in hits] == [(2.0, 2.4), (4.0, 4.4)]  # never "category" or "concatenate"


def test_spoken_hits_phrases_span_their_words():
    words = _words("and now the Weather Forecast. for tomorrow")
    (hit,) = spoken_hits(words, "weather forecast")
    assert (hit.start, hit.end) == (1.5, 2.4)
    assert spoken_hits(words, "forecast weather") == []


def test_screen_text_space_insensitive_and_word_bounded():
    assert screen_text_matches("SALE50% OFF", "sale 50% off")
    assert screen_text_matches("BIG SALE TODAY", "sale")
    assert not screen_text_matches("WHOLESALE PRICES", "sale")
    assert not screen_text_matches("SALES", "sale")


def test_screen_text_tolerates_one_ocr_error_in_longer_words_only():
    assert screen_text_matches("BREAKlNG NEWS", "breaking news")       # l for I
    assert screen_text_matches("CLEARANCE", "clearence")
    assert not screen_text_matches("CLEAR4NC3", "clearance")             # two errors
    assert not screen_text_matches("SAFE", "sale")                       # short words must be exact
    assert not screen_text_matches("BREAKlNG NEWS", "breaking news", tolerant=False)


def test_sentence_windows_merge_short_sentences_and_keep_times():
    words = _words("Hello there. This is the weather forecast for the whole region today. Bye.")
    windows = sentence_windows(words)
    assert windows[0].text.startswith("Hello there. This is")  # a two-word sentence gets context
    assert windows[-1].text.endswith("Bye.")                     # a dangling fragment joins the one before
    assert windows[0].start == 0.0 and windows[-1].end == words[-1].end


def test_exact_clips_score_by_reader_confidence():
    items = [{"start": 1.0, "end": 1.4, "text": "a", "p": 0.9}, {"start": 1.5, "end": 2.0, "text": "saxophone.", "p": 0.8}]
    (clip,) = ExactText(items, "conversation").clips(("Saxophone",))
    assert (clip.start, clip.end, round(clip.score, 1), clip.prompt) == (1.5, 2.0, 80.0, "Saxophone")
    spans = [{"start": 4.0, "end": 9.0, "text": "SALE 5O% OFF", "confidence": 0.95}]
    screen = ExactText(spans, "text_in_video")
    (exact,) = screen.clips(("sale",))
    assert round(exact.score, 1) == 95.0
    (tolerated,) = screen.clips(("sale 50% off",))
    assert round(tolerated.score, 1) == 85.5  # one misread character costs 10%


def test_segment_clips_merge_overlapping_spans_not_distant_ones():
    starts, ends = np.array([0.0, 2.0, 20.0]), np.array([3.0, 5.0, 25.0])
    scores = np.array([60.0, 80.0, 50.0])
    clips = segment_clips(starts, ends, scores, 30.0, "text_in_video", lambda i: f"p{i}")
    assert [(c.start, c.end, c.score, c.prompt) for c in clips] == [(0.0, 5.0, 80.0, "p1"), (20.0, 25.0, 50.0, "p2")]
