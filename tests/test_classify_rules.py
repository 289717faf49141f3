"""Request rules that are checked against the library before any model runs."""

import re

import numpy as np
import pytest

from edge.classify import Classifier
from edge.contract import ApiError, parse_request
from edge.store import Store
from edge.types import Segments, VideoInfo


def _video(store, video_id, hours):
    info = VideoInfo(duration=hours * 3600.0, fps=25.0, width=1280, height=720, rotation=0, has_audio=False)
    one = Segments(np.zeros(1, np.float32), np.ones(1, np.float32), np.ones((1, 4), np.float32))
    store.put_video(video_id, f"{video_id}.mp4", info, {("visual", "m"): one})


def _classify(store, **body):
    request = parse_request(
        {"options": ["visual"], "classes": [{"name": "c", "prompts": ["p"]}], **body}, bulk="index_id" in body
    )
    with pytest.raises(ApiError) as info:
        Classifier(store, bundle=None).classify(request)  # fails before any model is needed
    return info.value


def test_total_duration_over_ten_hours_is_refused_naming_limit_and_value(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    _video(store, "a" * 24, 6)
    _video(store, "b" * 24, 4.5)
    error = _classify(store, video_ids=["a" * 24, "b" * 24])
    assert error.code == "parameter_invalid" and error.status == 400
    assert "10 hours" in error.message and "37800" in error.message


def test_unknown_video_and_index_are_resource_not_exist(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for error in (_classify(store, video_ids=["f" * 24]), _classify(store, index_id="0" * 24)):
        assert (error.code, error.status) == ("resource_not_exist", 404)


def test_options_not_installed_are_refused_per_class(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    _video(store, "a" * 24, 1)
    request = parse_request(
        {
            "video_ids": ["a" * 24],
            "options": ["visual"],
            "classes": [
                {"name": "ok", "prompts": ["p"]},
                {"name": "talk", "prompts": ["q"], "options": ["text_in_video"]},
            ],
        }
    )
    with pytest.raises(ApiError, match="'text_in_video' \\(class 'talk'\\) is not available"):
        Classifier(store, bundle=None).classify(request)


def test_pages_link_both_ways_and_tokens_are_safe_cli_arguments(tmp_path):
    classifier = Classifier(Store(tmp_path / "s.sqlite"), bundle=None, page_ttl_s=60)
    data = [{"video_id": f"{i:024x}", "classes": []} for i in range(7)]
    first = classifier.store_pages(data, limit=3)
    pages = [first]
    while pages[-1]["page_info"]["next_page_token"]:
        pages.append(classifier.page(pages[-1]["page_info"]["next_page_token"]))
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    assert [v for p in pages for v in p["data"]] == data
    assert all(p["page_info"]["total_results"] == 7 and p["page_info"]["limit_per_page"] == 3 for p in pages)
    assert first["page_info"]["prev_page_token"] == "" and pages[-1]["page_info"]["next_page_token"] == ""
    assert classifier.page(pages[2]["page_info"]["prev_page_token"]) == pages[1]
    tokens = [p["page_info"]["next_page_token"] for p in pages[:-1]] + [
        p["page_info"]["prev_page_token"] for p in pages[1:]
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)  # never starts with "-" like an option
    empty = classifier.store_pages([], limit=3)
    assert (
        empty["data"] == [] and empty["page_info"]["total_results"] == 0 and empty["page_info"]["next_page_token"] == ""
    )
