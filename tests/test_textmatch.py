"""Exact matching rules for spoken words and on-screen text, and the clips they make (no models needed)."""

import numpy as np

from edge.scoring import SPOKEN_CONTEXT_S, ExactText, segment_clips, with_context
from edge.textmatch import TimedText, normalise, sentence_windows
from edge.types import CONVERSATION, TEXT_IN_VIDEO, Clip


def _words(text: str, step: float = 0.5) -> list[TimedText]:
    return [TimedText(i * step, i * step + 0.4, w) for i, w in enumerate(text.split())]


def test_normalise_ignores_case_punctuation_and_diacritics():
    assert normalise("Café, CRÈME-brûlée! Don't") == ["cafe", "creme", "brulee", "dont"]


def _spoken(words: list[TimedText], prompt: str) -> list[tuple[float, float]]:
    items = [{"start": w.start, "end": w.end, "text": w.text, "p": 0.9} for w in words]
    return [(c.start, c.end) for c in ExactText(items, CONVERSATION).clips((prompt,))]


def _shown(text: str, prompt: str) -> float | None:
    """The clip score of an on-screen text (OCR confidence 1) for an exact prompt, or None when it does not match."""
    clips = ExactText([{"start": 0.0, "end": 1.0, "text": text, "confidence": 1.0}], TEXT_IN_VIDEO).clips((prompt,))
    return clips[0].score if clips else None


def test_spoken_hits_whole_words_only_with_times():
    words = _words("The category of this cat is clear; a cat. Concatenate")
    assert _spoken(words, "Cat") == [(2.0, 2.4), (4.0, 4.4)]  # never "category" or "concatenate"


def test_spoken_hits_phrases_span_their_words():
    words = _words("and now the Weather Forecast. for tomorrow")
    assert _spoken(words, "weather forecast") == [(1.5, 2.4)]
    assert _spoken(words, "forecast weather") == []


def test_screen_text_space_insensitive_and_word_bounded():
    assert _shown("SALE50% OFF", "sale 50% off") == 100
    assert _shown("BIG SALE TODAY", "sale") == 100
    assert _shown("WHOLESALE PRICES", "sale") is None
    assert _shown("SALES", "sale") is None


def test_screen_text_finds_words_the_reader_glued_together():
    assert _shown("BAKERYSchool", "bakery") == 100  # a change of case where the space was
    assert _shown("bigSale", "sale") == 100
    assert _shown("SALE50%OFF", "sale") == 100  # a number against letters
    assert _shown("GATE B12", "12") == 100
    assert _shown("5ALE", "ale") is None  # one digit is more often a misread letter than a word
    assert _shown("H0TEL", "tel") is None
    assert _shown("iPhone", "phone") is None  # one lower-case letter is not a word
    assert _shown("BREAKlNG NEWS", "breaking news") == 90  # a misread lower-case letter splits nothing
    assert _shown("WHOLESALE", "sale") is None


def test_screen_text_tolerates_one_ocr_misread_in_longer_words_only():
    assert _shown("BREAKlNG NEWS", "breaking news") == 90  # l for I: found, at a lower score
    assert _shown("H0TEL", "hotel") == 90  # zero for O
    assert _shown("CLEAR4NCE", "clearance") == 90
    assert _shown("CLEAR4NC3", "clearance") is None  # two errors
    assert _shown("SAFE", "sale") is None  # short words must be exact
    # a letter that does not look like the prompt's, or one more or less, is another word, not a misread
    assert _shown("HOSTEL", "hotel") is None
    assert _shown("POLICY", "police") is None
    assert _shown("BAKERS DOZEN", "bakery") is None
    assert _shown("CLEARANCE", "clearence") is None


def test_sentence_windows_merge_short_sentences_and_keep_times():
    words = _words("Hello there. This is the weather forecast for the whole region today. Bye.")
    windows = sentence_windows(words)
    assert windows[0].text.startswith("Hello there. This is")  # a two-word sentence gets context
    assert windows[-1].text.endswith("Bye.")  # a dangling fragment joins the one before
    assert windows[0].start == 0.0 and windows[-1].end == words[-1].end


def test_exact_clips_score_by_reader_confidence():
    items = [
        {"start": 1.0, "end": 1.4, "text": "a", "p": 0.9},
        {"start": 1.5, "end": 2.0, "text": "saxophone.", "p": 0.8},
    ]
    (clip,) = ExactText(items, "conversation").clips(("Saxophone",))
    assert (clip.start, clip.end, round(clip.score, 1), clip.prompt) == (1.5, 2.0, 80.0, "Saxophone")
    spans = [{"start": 4.0, "end": 9.0, "text": "SALE 5O% OFF", "confidence": 0.95}]
    screen = ExactText(spans, "text_in_video")
    (exact,) = screen.clips(("sale",))
    assert round(exact.score, 1) == 95.0
    (tolerated,) = screen.clips(("sale 50% off",))
    assert round(tolerated.score, 1) == 85.5  # one misread character costs 10%


def test_a_spoken_clip_gets_context_either_side_inside_the_video():
    word = Clip(5.0, 5.7, 80.0, CONVERSATION, "Mwanza")
    heard = with_context(word, duration=20.0)
    assert (heard.start, heard.end) == (5.0 - SPOKEN_CONTEXT_S, 5.7 + SPOKEN_CONTEXT_S)
    assert (heard.score, heard.prompt, heard.peak) == (80.0, "Mwanza", 5.35)  # the thumbnail stays on the word
    assert 0 < SPOKEN_CONTEXT_S < 1.0  # each edge stays within 1 s of the word (the evaluation's edge rule)
    first = with_context(Clip(0.2, 0.9, 80.0, CONVERSATION, "a"), duration=1.2)
    assert (first.start, first.end) == (0.0, 1.2)  # clamped at both ends of the video


def test_segment_clips_merge_overlapping_spans_not_distant_ones():
    starts, ends = np.array([0.0, 2.0, 20.0]), np.array([3.0, 5.0, 25.0])
    scores = np.array([60.0, 80.0, 50.0])
    clips = segment_clips(starts, ends, scores, 30.0, "text_in_video", lambda i: f"p{i}")
    assert [(c.start, c.end, c.score, c.prompt) for c in clips] == [(0.0, 5.0, 80.0, "p1"), (20.0, 25.0, 50.0, "p2")]
