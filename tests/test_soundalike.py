"""exact_match's sound-alike fallback: misheard rare names are found, similar-sounding real words are not."""

import pytest

from edge.scoring import FUZZY_WEIGHT, ExactText
from edge.soundalike import find
from edge.textmatch import normalise


def _words(text: str, p: float = 0.9) -> list[dict]:
    return [{"start": float(i), "end": i + 0.8, "text": w, "p": p} for i, w in enumerate(text.split())]


@pytest.mark.parametrize(
    "name, heard, misheard",
    [
        ("Kirkcaldy", "sent from Kirk Caldy on Tuesday.", "Kirk Caldy"),
        ("Llandudno", "the team travels to Clan Dudno for the conference.", "Clan Dudno"),
        ("Husqvarna", "the parcel came from Husk Varna on Tuesday.", "Husk Varna"),
        ("Saskatoon", "everyone was talking about Sasquatoon at dinner.", "Sasquatoon"),
        ("Nakamura", "the letter was signed by Naka Mura and posted.", "Naka Mura"),
        ("Szymborska", "signed by Shimborska and posted.", "Shimborska"),
    ],
)
def test_misheard_name_is_found_with_a_lower_score(name, heard, misheard):
    words = _words(heard)
    exact = ExactText(words, "conversation")
    assert exact.clips((name,)) == []  # word for word it is not there
    clips, fuzzy = exact.matches((name,))
    assert fuzzy and len(clips) == 1
    assert 0 < clips[0].score <= 100 * FUZZY_WEIGHT
    said = [w["text"] for w in words if clips[0].start <= w["start"] and w["end"] <= clips[0].end]
    assert " ".join(said) == misheard


@pytest.mark.parametrize(
    "name, other",
    [
        ("Kirkcaldy", "Kirkwall"),
        ("Saskatoon", "Saskatchewan"),
        ("Saskatoon", "cartoon"),
        ("Nakamura", "camera"),
        ("Mwanza", "Monza"),
        ("Mwanza", "bonanza"),
        ("Husqvarna", "husband"),
        ("Llandudno", "London"),
        ("Llandudno", "landing"),
        ("Przewalski", "pretzel"),
        ("Antananarivo", "arrival"),
        ("Tegucigalpa", "tequila"),
    ],
)
def test_similar_sounding_real_words_are_not_matched(name, other):
    clips, fuzzy = ExactText(_words(f"next week we travel to {other} for the conference."), "conversation").matches(
        (name,)
    )
    assert clips == [] and not fuzzy


def test_an_exact_hit_wins_and_the_fallback_stays_out():
    exact = ExactText(_words("we flew to Kirkcaldy and then to Kirk Caldy again"), "conversation")
    clips, fuzzy = exact.matches(("Kirkcaldy",))
    assert not fuzzy and [c.start for c in clips] == [3.0]


def test_short_or_multi_word_prompts_get_no_fallback():
    assert find(normalise("the cap was red"), "cat") == []
    clips, fuzzy = ExactText(_words("a new saxofone for the band"), "conversation").matches(("school band",))
    assert clips == [] and not fuzzy


def test_on_screen_text_has_no_sound_alike_fallback():
    items = [{"start": 0.0, "end": 2.0, "text": "KIRK KAULDIE", "confidence": 0.9}]
    assert ExactText(items, "text_in_video").matches(("Kirkcaldy",)) == ([], False)


def test_a_tolerated_ocr_error_is_reported_as_not_exact():
    items = [
        {"start": 0.0, "end": 2.0, "text": "H0TEL", "confidence": 0.9},
        {"start": 3.0, "end": 5.0, "text": "GRAND HOTEL", "confidence": 0.8},
    ]
    clips, tolerant_only = ExactText(items[:1], "text_in_video").matches(("hotel",))
    assert len(clips) == 1 and tolerant_only and clips[0].score == pytest.approx(81.0)
    clips, tolerant_only = ExactText(items, "text_in_video").matches(("hotel",))
    assert len(clips) == 2 and not tolerant_only
