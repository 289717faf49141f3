"""Validation of every request field against shared/classify-contract.md."""

import pytest

from edge.contract import ApiError, parse_request


def body(**overrides):
    base = {
        "video_ids": ["a" * 24],
        "options": ["visual"],
        "conversation_option": "semantic",
        "classes": [{"name": "cat", "prompts": ["a cat"]}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def error(b, bulk=False) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_request(b, bulk=bulk)
    return info.value


def test_defaults():
    r = parse_request(body())
    assert r.page_limit == 10 and not r.include_clips and not r.show_detailed_score
    assert (r.thresholds.min_video_score, r.thresholds.min_clip_score, r.thresholds.min_duration_ratio) == (75, 30, 0.5)
    assert r.classes[0].options == ("visual",) and r.classes[0].conversation_option == "semantic"


def test_integers_spelt_as_whole_floats_are_integers():  # JSON Schema's integer, as the OpenAPI document says
    assert parse_request(body(page_limit=5.0)).page_limit == 5
    bulk = parse_request(body(video_ids=..., index_id="i", threshold=40.0), bulk=True)
    assert bulk.thresholds.min_video_score == 40


def test_sdk_drops_none_fields_and_defaults_still_apply():
    r = parse_request(body(page_limit=None, threshold=None, include_clips=None))
    assert r.page_limit == 10 and r.thresholds.min_video_score == 75


@pytest.mark.parametrize("field", ["video_ids", "options", "classes"])
def test_missing_required_field(field):
    e = error(body(**{field: ...}))
    assert (e.code, e.status) == ("parameter_not_provided", 400) and field in e.message


def test_unknown_field_is_named():
    e = error(body(colour="red"))
    assert e.code == "parameter_unknown" and "colour" in e.message
    e = error(body(classes=[{"name": "a", "prompts": ["b"], "weight": 2}]))
    assert e.code == "parameter_unknown" and "classes[0].weight" in e.message
    e = error(body(threshold={"min_score": 3}))
    assert e.code == "parameter_unknown" and "min_score" in e.message


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"video_ids": []}, "video_ids"),
        ({"video_ids": "abc"}, "video_ids"),
        ({"video_ids": [3]}, "video_ids"),
        ({"options": []}, "options"),
        ({"options": ["smell"]}, "options"),
        ({"conversation_option": "fuzzy"}, "conversation_option"),
        ({"classes": []}, "classes"),
        ({"classes": ["cat"]}, "classes[0]"),
        ({"classes": [{"name": "", "prompts": ["x"]}]}, "classes[0].name"),
        ({"classes": [{"name": "c", "prompts": []}]}, "classes[0].prompts"),
        ({"classes": [{"name": "c", "prompts": ["x"], "options": ["taste"]}]}, "classes[0].options"),
        ({"classes": [{"name": "c", "prompts": ["x"], "conversation_option": "x"}]}, "classes[0].conversation_option"),
        ({"classes": [{"name": "c", "prompts": ["x"]}, {"name": "c", "prompts": ["y"]}]}, "classes"),
        ({"page_limit": 0}, "page_limit"),
        ({"page_limit": 51}, "page_limit"),
        ({"page_limit": 2.5}, "page_limit"),
        ({"page_limit": True}, "page_limit"),
        ({"include_clips": "yes"}, "include_clips"),
        ({"show_detailed_score": 1}, "show_detailed_score"),
        ({"threshold": {"min_video_score": 0}}, "threshold.min_video_score"),
        ({"threshold": {"min_video_score": 101}}, "threshold.min_video_score"),
        ({"threshold": {"min_clip_score": "high"}}, "threshold.min_clip_score"),
        ({"threshold": {"min_duration_ratio": 0.001}}, "threshold.min_duration_ratio"),
        ({"threshold": {"min_duration_ratio": 1.5}}, "threshold.min_duration_ratio"),
        ({"threshold": 80}, "threshold"),
        ({"threshold": "extreme"}, "threshold"),
    ],
)
def test_invalid_values_are_named(overrides, field):
    e = error(body(**overrides))
    assert (e.code, e.status) == ("parameter_invalid", 400)
    assert field in e.message


def test_prompt_limit_counts_all_classes_together():
    classes = [{"name": f"c{i}", "prompts": [f"p{i}-{j}" for j in range(25)]} for i in range(4)]
    assert len(parse_request(body(classes=classes)).classes) == 4
    classes.append({"name": "one more", "prompts": ["x"]})
    e = error(body(classes=classes))
    assert e.code == "parameter_invalid" and "100" in e.message and "101" in e.message


def test_per_class_overrides():
    r = parse_request(
        body(
            options=["visual", "conversation"],
            classes=[
                {"name": "a", "prompts": ["x"]},
                {"name": "b", "prompts": ["y"], "options": ["text_in_video"], "conversation_option": "exact_match"},
            ],
        )
    )
    assert r.classes[0].options == ("visual", "conversation") and r.classes[0].conversation_option == "semantic"
    assert r.classes[1].options == ("text_in_video",) and r.classes[1].conversation_option == "exact_match"


def test_bulk_takes_index_id_and_bare_integer_threshold():
    r = parse_request(body(video_ids=..., index_id="i" * 24, threshold=40), bulk=True)
    assert r.index_id == "i" * 24 and r.thresholds.min_video_score == 40 and r.thresholds.min_clip_score == 30
    assert parse_request(body(video_ids=..., index_id="i", threshold=0), bulk=True).thresholds.min_video_score == 0
    assert error(body(video_ids=..., index_id="i", threshold=101), bulk=True).code == "parameter_invalid"
    assert error(body(video_ids=...), bulk=True).code == "parameter_not_provided"
    assert error(body(index_id="i"), bulk=True).code == "parameter_unknown"  # video_ids is not a bulk field


def test_v11_form_is_accepted():
    r = parse_request(
        {
            "video_id": "v1",
            "options": ["visual"],
            "labels": [{"name": "cat", "prompts": ["a cat"]}],
            "threshold": "high",
        }
    )
    assert r.video_ids == ("v1",) and r.classes[0].name == "cat" and r.thresholds.min_video_score == 85


def test_error_body_shape():
    e = error(body(page_limit=99))
    assert set(e.body()) == {"code", "message", "docs_url"} and e.body()["code"] == "parameter_invalid"


def test_not_an_object():
    assert error(["video_ids"]).code == "parameter_invalid"
