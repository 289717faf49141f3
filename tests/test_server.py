"""`edge serve` as a real process on loopback, driven by the unmodified twelvelabs==0.3.2 SDK and plain httpx."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import REPO, free_port, run_edge, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = "test-key"
CLASSES = [{"name": "cat", "prompts": ["a cat", "kitten"]}, {"name": "coffee", "prompts": ["a cup of coffee"]}]


@pytest.fixture(scope="module")
def server(models_dir, sample_dir, shared_cache, tmp_path_factory):
    """One indexed store and one server for the module (edge_home is per test, so the env is built here)."""
    env = {"EDGE_HOME": str(tmp_path_factory.mktemp("serve-home")), "EDGE_CACHE_DIR": str(shared_cache),
           "EDGE_API_KEYS": ""}
    code, report, err = run_edge("index", str(sample_dir), "--name", "demo", env=env)
    assert code == 0, err
    with serving(env, tmp_path_factory.mktemp("serve-log") / "server.log", "--api-key", KEY) as (_, base):
        yield {"base": base, "index_id": report["indexes"][0]["index_id"],
               "videos": {r["path"].rsplit("/", 1)[-1]: r["video_id"] for r in report["indexed"]}}


@pytest.fixture
def client(server, monkeypatch):
    monkeypatch.setenv("TWELVELABS_BASE_URL", server["base"])
    from twelvelabs import TwelveLabs

    return TwelveLabs(api_key=KEY)


def _post(server, path: str, body, key: str = KEY, **kwargs) -> httpx.Response:
    return httpx.post(f"{server['base']}{path}", json=body, headers={"x-api-key": key}, timeout=60, **kwargs)


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "docs_url"} and body["code"] == code, body
    assert "Traceback" not in response.text


def test_sdk_classifies_cat_and_coffee(client, server):
    result = client.classify.videos([server["videos"]["cat_coffee.mp4"]], ["visual"], CLASSES, include_clips=True,
                                    show_detailed_score=True)
    assert len(result.data) == 1 and result.data[0].video_id == server["videos"]["cat_coffee.mp4"]
    classes = {c.name: c for c in result.data[0].classes}
    assert set(classes) == {"cat", "coffee"}
    assert all(c.score >= 75 and c.clips and c.detailed_scores for c in classes.values())
    assert result.page_info.total_results == 1 and result.page_info.next_page_token == ""


def test_sdk_clips_carry_thumbnail_urls(client, server):
    result = client.classify.videos([server["videos"]["cat_coffee.mp4"]], ["visual"], CLASSES, include_clips=True)
    clips = [clip for c in result.data[0].classes for clip in c.clips]
    assert clips and all(clip.thumbnail_url.startswith(f"{server['base']}/v1.2/thumbnails/") for clip in clips)
    reply = httpx.get(clips[0].thumbnail_url, headers={"x-api-key": KEY}, timeout=60)
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"


def test_sdk_iterates_pages_through_tokens(client, server):
    ids = [server["videos"]["cat_coffee.mp4"], server["videos"]["rocket.mp4"]]
    classes = [{"name": "cat", "prompts": ["a cat"]}, {"name": "rocket", "prompts": ["a rocket"]}]
    result = client.classify.videos(ids, ["visual"], classes, page_limit=1, threshold={"min_video_score": 50})
    assert result.page_info.total_results == 2 and result.page_info.next_page_token
    seen = [video.video_id for video in result.data]
    for page in result:  # the SDK follows next_page_token with GET /v1.2/classify/{token}
        seen += [video.video_id for video in page]
    assert sorted(seen) == sorted(ids)
    assert result.page_info.next_page_token == ""


def test_sdk_bulk_over_the_index(client, server):
    result = client.classify.index(server["index_id"], ["visual"], [{"name": "rocket", "prompts": ["a rocket"]}])
    assert [v.video_id for v in result.data] == [server["videos"]["rocket.mp4"]]


def test_sdk_exception_classes(client, server, monkeypatch):
    from twelvelabs import TwelveLabs
    from twelvelabs.exceptions import AuthenticationError, BadRequestError, NotFoundError

    video = server["videos"]["cat_coffee.mp4"]
    with pytest.raises(BadRequestError) as raised:
        client.classify.videos([video], ["visual"], [{"name": "many", "prompts": [f"p{i}" for i in range(101)]}])
    assert raised.value.body["code"] == "parameter_invalid" and "101" in raised.value.body["message"]
    with pytest.raises(NotFoundError) as raised:
        client.classify.videos(["0" * 24], ["visual"], CLASSES)
    assert raised.value.body["code"] == "resource_not_exist"
    with pytest.raises(BadRequestError):
        client.classify.by_page_token("no-such-token")
    with pytest.raises(AuthenticationError) as raised:
        TwelveLabs(api_key="wrong").classify.videos([video], ["visual"], CLASSES)
    assert raised.value.body["code"] == "api_key_invalid"


def test_error_bodies_and_content_type(server):
    _assert_error(_post(server, "/v1.2/classify", {"video_ids": ["x"]}), 400, "parameter_not_provided")
    _assert_error(_post(server, "/v1.2/classify", {**{"video_ids": ["x"], "options": ["visual"]}, "classes": CLASSES,
                                                  "colour": "red"}), 400, "parameter_unknown")
    _assert_error(_post(server, "/v1.2/classify", {}, key="wrong"), 401, "api_key_invalid")
    malformed = httpx.post(f"{server['base']}/v1.2/classify", content=b'{"video_ids": [', timeout=10,
                           headers={"x-api-key": KEY, "content-type": "application/json"})
    _assert_error(malformed, 400, "parameter_invalid")
    _assert_error(httpx.get(f"{server['base']}/v1.2/nothing-here", headers={"x-api-key": KEY}), 404,
                  "resource_not_exist")
    _assert_error(httpx.get(f"{server['base']}/v1.2/classify", headers={"x-api-key": KEY}), 405,
                  "method_not_allowed")


def test_ratelimit_headers(server):
    first = _post(server, "/v1.2/classify/bulk", {"index_id": server["index_id"], "options": ["visual"],
                                                  "classes": CLASSES})
    second = httpx.get(f"{server['base']}/v1.2/indexes", headers={"x-api-key": KEY})
    for response in (first, second):
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        limit, remaining, used = (int(response.headers[f"x-ratelimit-{h}"]) for h in ("limit", "remaining", "used"))
        assert limit == used + remaining
    # a new minute may start between the two requests and reset the count
    assert int(second.headers["x-ratelimit-used"]) in (1, int(first.headers["x-ratelimit-used"]) + 1)


def test_indexes_and_videos_listing(server):
    headers = {"x-api-key": KEY}
    indexes = httpx.get(f"{server['base']}/v1.2/indexes", headers=headers).json()
    assert [(i["_id"], i["index_name"], i["video_count"]) for i in indexes["data"]] == [(server["index_id"], "demo", 2)]
    assert indexes["page_info"]["total_results"] == 1
    videos = httpx.get(f"{server['base']}/v1.2/indexes/{server['index_id']}/videos", headers=headers).json()
    assert {v["metadata"]["filename"]: v["_id"] for v in videos["data"]} == server["videos"]
    assert {v["metadata"]["duration"] for v in videos["data"]} == {12.0, 8.0}
    paged = httpx.get(f"{server['base']}/v1.2/indexes/{server['index_id']}/videos",
                      params={"page": 2, "page_limit": 1}, headers=headers).json()
    assert len(paged["data"]) == 1 and paged["page_info"]["total_page"] == 2
    _assert_error(httpx.get(f"{server['base']}/v1.2/indexes/nope/videos", headers=headers), 404, "resource_not_exist")
    _assert_error(httpx.get(f"{server['base']}/v1.2/indexes", params={"page": "x"}, headers=headers), 400,
                  "parameter_invalid")


def test_health_and_openapi(server):
    health = httpx.get(f"{server['base']}/health").json()
    assert health["videos"] == 2 and health["model_bundle"]
    spec = httpx.get(f"{server['base']}/openapi.json").json()
    assert {"/v1.2/classify", "/v1.2/classify/bulk", "/v1.2/classify/{page_token}"} <= set(spec["paths"])


def test_refuses_non_loopback_without_a_key(edge_home):
    code, _, err = run_edge("serve", "--host", "0.0.0.0", "--port", str(free_port()), env={"EDGE_API_KEYS": ""})
    assert code == 2 and "without an API key" in err


def test_sdk_lists_indexes_and_videos(client, server):
    indexes = client.index.list()
    assert [(i.id, i.name, i.video_count) for i in indexes] == [(server["index_id"], "demo", 2)]
    videos = client.index.video.list(server["index_id"])
    assert {v.metadata.filename: v.id for v in videos} == server["videos"]
    assert all(v.metadata.size > 0 and v.created_at.endswith("Z") for v in videos)


def test_parallel_clients_get_what_sequential_ones_get(server):
    body = {"video_ids": sorted(server["videos"].values()), "options": ["visual"], "include_clips": True,
            "threshold": {"min_video_score": 50}, "classes": CLASSES + [{"name": "rocket", "prompts": ["a rocket"]}]}
    sequential = _post(server, "/v1.2/classify", body).json()["data"]
    assert {v["video_id"] for v in sequential} == set(server["videos"].values())
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: _post(server, "/v1.2/classify", body), range(16)))
    assert all(r.status_code == 200 for r in replies)
    assert all(r.json()["data"] == sequential for r in replies)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
                     | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
_VALID = {"video_ids": ["0" * 24], "options": ["visual"], "conversation_option": "semantic",
          "classes": [{"name": "cat", "prompts": ["a cat"]}], "page_limit": 5, "include_clips": True,
          "threshold": {"min_video_score": 60}, "show_detailed_score": False}


@st.composite
def _hostile_bodies(draw):
    """Random JSON, or a valid body with some fields dropped or replaced by random JSON."""
    if draw(st.booleans()):
        return draw(_JSON)
    body = dict(_VALID)
    for field in draw(st.lists(st.sampled_from(sorted(_VALID)), max_size=4)):
        if draw(st.booleans()):
            body.pop(field, None)
        else:
            body[field] = draw(_JSON)
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_hostile_bodies(), bulk=st.booleans())
def test_hostile_bodies_never_get_a_5xx_or_a_traceback(server, body, bulk):
    response = _post(server, "/v1.2/classify/bulk" if bulk else "/v1.2/classify", body)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json" and "Traceback" not in response.text
    if response.status_code != 200:
        assert set(response.json()) == {"code", "message", "docs_url"}


def test_config_file_gives_serve_its_options_and_is_checked(tmp_path, edge_home):
    config = tmp_path / "edge.toml"
    config.write_text('host = "0.0.0.0"\nport = 8999\n')  # no key: must refuse, as on the command line
    code, _, err = run_edge("serve", "--config", str(config), env={"EDGE_API_KEYS": ""})
    assert code == 2 and "without an API key" in err
    config.write_text('host = "127.0.0.1"\nwatch = ["demo=/no/such/folder"]\n')
    code, _, err = run_edge("serve", "--config", str(config))
    assert code == 2 and "/no/such/folder" in err
    config.write_text('hots = "127.0.0.1"\n')
    code, _, err = run_edge("serve", "--config", str(config))
    assert code == 2 and "unknown keys hots" in err
    shipped = REPO / "scripts" / "edge.toml"  # the example config names only real options
    import tomllib
    assert set(tomllib.loads(shipped.read_text())) <= {"host", "port", "api_key", "watch", "poll_interval",
                                                        "settle", "ready_timeout"}


def test_path_like_ids_and_tokens_reach_nothing(server):
    headers = {"x-api-key": KEY}
    for path in ("/v1.2/classify/..%2F..%2Fetc%2Fpasswd", "/v1.2/classify/../../etc/passwd"):
        response = httpx.get(f"{server['base']}{path}", headers=headers)
        assert response.status_code in (400, 404) and "root:" not in response.text
        assert set(response.json()) == {"code", "message", "docs_url"}
    _assert_error(httpx.get(f"{server['base']}/v1.2/indexes/..%2F..%2Fetc/videos", headers=headers), 404,
                  "resource_not_exist")
    _assert_error(_post(server, "/v1.2/classify", {"video_ids": ["../../etc/passwd"], "options": ["visual"],
                                                   "classes": CLASSES}), 404, "resource_not_exist")
