"""The development set builder (scripts/devset.py): deterministic, and its two parts share no media.

The packages it draws on are downloaded once (apt-get download, sha256-checked) into build/devset/cache, which
`make eval` uses too. Only a tiny subset is rendered here: the full set takes minutes.
"""

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

needs_media = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("espeak-ng") is None,
    reason="needs Debian's apt-get (package media) and espeak-ng",
)

CACHE = ROOT / "build" / "devset" / "cache"


@pytest.fixture(scope="module")
def media():
    import devset_media

    return devset_media.Media(devset_media.fetch_packages(CACHE))


@needs_media
def test_parts_share_no_picture_sentence_name_or_sign(media):
    import devset

    fit, report = devset.Pools("fit", media), devset.Pools("report", media)

    def pictures(pools):
        return {p if isinstance(p, str) else p["art"] for pics in pools.visual.values() for p in pics}

    assert pictures(fit) and not pictures(fit) & pictures(report)
    assert not set(fit.negative_stamps) & set(report.negative_stamps)
    assert not set(fit.abstract) & set(report.abstract)
    for topic in fit.sentences:
        assert fit.sentences[topic] and not set(fit.sentences[topic]) & set(report.sentences[topic])
    assert not {n for n, _ in fit.names} & {n for n, _ in report.names}
    assert not {t for ts in fit.signs.values() for t in ts} & {t for ts in report.signs.values() for t in ts}
    assert not {w for w, _ in fit.words} & {w for w, _ in report.words}


@needs_media
def test_builder_is_deterministic_on_a_tiny_subset(tmp_path, media):
    import devset

    first = devset.build(tmp_path / "a", CACHE, limit=1, parts=("report",))
    second = devset.build(tmp_path / "b", CACHE, limit=1, parts=("report",))
    assert first == second
    [video] = first["videos"]
    assert video["duration"] > 10 and {s["source"] for s in video["segments"]} >= {"visual"}
    assert all(0 <= s["start"] < s["end"] <= video["duration"] + 1e-6 for s in video["segments"])

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert digest(tmp_path / "a" / video["file"]) == digest(tmp_path / "b" / video["file"])
    # a second build over the same folder renders nothing again
    mtime = (tmp_path / "a" / video["file"]).stat().st_mtime_ns
    assert devset.build(tmp_path / "a", CACHE, limit=1, parts=("report",)) == first
    assert (tmp_path / "a" / video["file"]).stat().st_mtime_ns == mtime


def test_a_carrier_that_is_talk_of_a_topic_makes_that_topic_ambiguous():
    """A trip ("Next week the whole team travels to Mwanza for the conference"): "travel" is neither required nor
    wrong in that video; the other carriers leave every topic as it was, and road-sign stamps still make "street"
    ambiguous on screen."""
    import devset

    def plan(before, stamps=()):
        parts = [{"text": before}, {"text": "Mwanza", "label": "name:Mwanza"}, {"text": "for the conference."}]
        return {"shots": [{"stamps": list(stamps)}], "audio": {"pieces": [{"parts": parts}]}}

    travel = devset.derived_ambiguous(plan("Next week the whole team travels to"), 12.0)
    assert [(a["source"], a["label"], a["start"], a["end"]) for a in travel] == [("conversation", "travel", 0.0, 12.0)]
    assert devset.derived_ambiguous(plan("The parcel was sent from"), 12.0) == []
    signs = devset.derived_ambiguous(plan("The parcel was sent from", ["town/roadsigns/stop.png"]), 9.0)
    assert [(a["source"], a["label"]) for a in signs] == [("text_in_video", "street")]
