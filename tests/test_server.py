"""`edge serve` as a real process on loopback, driven by the unmodified twelvelabs==0.3.2 SDK and plain httpx."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import REPO, SAMPLE_KEY, free_port, run_edge, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.types import CONVERSATION_OPTIONS, SOURCES

KEY = SAMPLE_KEY
CLASSES = [{"name": "cat", "prompts": ["a cat", "kitten"]}, {"name": "coffee", "prompts": ["a cup of coffee"]}]


@pytest.fixture
def server(sample_server):
    return sample_server


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
    # class scores are probabilities (edge/data/scores.json): both photos are found more likely than not
    result = client.classify.videos(
        [server["videos"]["cat_coffee.mp4"]],
        ["visual"],
        CLASSES,
        include_clips=True,
        show_detailed_score=True,
        threshold={"min_video_score": 50},
    )
    assert len(result.data) == 1 and result.data[0].video_id == server["videos"]["cat_coffee.mp4"]
    classes = {c.name: c for c in result.data[0].classes}
    assert set(classes) == {"cat", "coffee"}
    assert all(c.score >= 50 and c.clips and c.detailed_scores for c in classes.values())
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
    # class scores are probabilities fitted on the development set: the sample's rocket scores ~71
    result = client.classify.index(
        server["index_id"], ["visual"], [{"name": "rocket", "prompts": ["a rocket"]}], threshold={"min_video_score": 50}
    )
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
    _assert_error(
        _post(
            server,
            "/v1.2/classify",
            {**{"video_ids": ["x"], "options": ["visual"]}, "classes": CLASSES, "colour": "red"},
        ),
        400,
        "parameter_unknown",
    )
    _assert_error(_post(server, "/v1.2/classify", {}, key="wrong"), 401, "api_key_invalid")
    malformed = httpx.post(
        f"{server['base']}/v1.2/classify",
        content=b'{"video_ids": [',
        timeout=10,
        headers={"x-api-key": KEY, "content-type": "application/json"},
    )
    _assert_error(malformed, 400, "parameter_invalid")
    _assert_error(
        httpx.get(f"{server['base']}/v1.2/nothing-here", headers={"x-api-key": KEY}), 404, "resource_not_exist"
    )
    _assert_error(httpx.get(f"{server['base']}/v1.2/classify", headers={"x-api-key": KEY}), 405, "method_not_allowed")


def test_rate_limit_answers_429_per_key_and_the_next_window_resets(tmp_path, shared_cache, models_dir):
    """A real server under EDGE_RATE_LIMIT=3, counting in 4 s windows (EDGE_RATE_WINDOW) so the reset is seen."""
    window = 4.0
    env = {
        "EDGE_HOME": str(tmp_path / "home"),
        "EDGE_CACHE_DIR": str(shared_cache),
        "EDGE_API_KEYS": "",
        "EDGE_RATE_LIMIT": "3",
        "EDGE_RATE_WINDOW": str(window),
    }
    with serving(env, tmp_path / "server.log", "--api-key", KEY, "--api-key", "other-key") as (_, base):

        def get(key: str = KEY) -> httpx.Response:
            return httpx.get(f"{base}/v1.2/indexes", headers={"x-api-key": key}, timeout=10)

        def counts(response: httpx.Response) -> tuple[int, int, int]:
            return tuple(int(response.headers[f"x-ratelimit-{h}"]) for h in ("limit", "used", "remaining"))

        time.sleep(window - time.time() % window + 0.05)  # the start of a window: the burst fits in it
        burst = [get() for _ in range(5)]
        other = get("other-key")
        assert [r.status_code for r in burst] == [200, 200, 200, 429, 429], [r.text for r in burst]
        assert [counts(r) for r in burst] == [(3, 1, 2), (3, 2, 1), (3, 3, 0), (3, 4, 0), (3, 5, 0)]
        _assert_error(burst[3], 429, "too_many_requests")
        assert "3 requests" in burst[3].json()["message"]
        assert 1 <= int(burst[3].headers["retry-after"]) <= window
        assert other.status_code == 200 and counts(other) == (3, 1, 2)  # counted per key
        time.sleep(window - time.time() % window + 0.05)  # the next window
        again = get()
        assert again.status_code == 200 and counts(again) == (3, 1, 2), again.text


def test_without_a_limit_usage_is_only_reported(server):
    replies = [httpx.get(f"{server['base']}/v1.2/indexes", headers={"x-api-key": KEY}) for _ in range(2)]
    assert all(r.status_code == 200 and r.headers["x-ratelimit-limit"] == "600" for r in replies)
    assert "retry-after" not in replies[0].headers


def test_indexes_and_videos_listing(server):
    headers = {"x-api-key": KEY}
    indexes = httpx.get(f"{server['base']}/v1.2/indexes", headers=headers).json()
    assert [(i["_id"], i["index_name"], i["video_count"]) for i in indexes["data"]] == [(server["index_id"], "demo", 2)]
    assert indexes["page_info"]["total_results"] == 1
    videos = httpx.get(f"{server['base']}/v1.2/indexes/{server['index_id']}/videos", headers=headers).json()
    assert {v["metadata"]["filename"]: v["_id"] for v in videos["data"]} == server["videos"]
    assert {v["metadata"]["duration"] for v in videos["data"]} == {12.0, 8.0}
    paged = httpx.get(
        f"{server['base']}/v1.2/indexes/{server['index_id']}/videos",
        params={"page": 2, "page_limit": 1},
        headers=headers,
    ).json()
    assert len(paged["data"]) == 1 and paged["page_info"]["total_page"] == 2
    _assert_error(httpx.get(f"{server['base']}/v1.2/indexes/nope/videos", headers=headers), 404, "resource_not_exist")
    _assert_error(
        httpx.get(f"{server['base']}/v1.2/indexes", params={"page": "x"}, headers=headers), 400, "parameter_invalid"
    )


def test_health_and_openapi(server):
    health = httpx.get(f"{server['base']}/health").json()
    assert health["videos"] == 2 and health["model_bundle"]
    assert health["providers"]["text-bge-small-en/model.onnx"] == ["CPUExecutionProvider"]  # what it really got
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
    body = {
        "video_ids": sorted(server["videos"].values()),
        "options": ["visual"],
        "include_clips": True,
        "threshold": {"min_video_score": 50},
        "classes": CLASSES + [{"name": "rocket", "prompts": ["a rocket"]}],
    }
    sequential = _post(server, "/v1.2/classify", body).json()["data"]
    assert {v["video_id"] for v in sequential} == set(server["videos"].values())
    start = threading.Barrier(16)  # sixteen clients, their requests in flight together

    def client(_):
        start.wait()
        return _post(server, "/v1.2/classify", body)

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(client, range(16)))
    assert all(r.status_code == 200 for r in replies)
    assert all(r.json()["data"] == sequential for r in replies)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_TEXT = st.text(min_size=1, max_size=24).filter(str.strip)
_PROMPTS = st.lists(
    st.sampled_from(["a cat", "kitten", "a cup of coffee", "a rocket", "sale", "rain"]) | _TEXT, min_size=1, max_size=4
)
_OPTIONS = st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)
_CLASS = st.fixed_dictionaries(
    {"prompts": _PROMPTS}, optional={"options": _OPTIONS, "conversation_option": st.sampled_from(CONVERSATION_OPTIONS)}
)
_THRESHOLD = st.fixed_dictionaries(
    {},
    optional={
        "min_video_score": st.sampled_from([1, 30]) | st.floats(1, 100),
        "min_clip_score": st.floats(1, 100),
        "min_duration_ratio": st.sampled_from([0.01]) | st.floats(0.01, 1),
    },
)


def _valid_bodies(server, bulk: bool):
    """Bodies the contract accepts, naming the real sample videos or its real index: they reach scoring and paging."""
    names = st.lists(_TEXT, min_size=1, max_size=3, unique=True)
    classes = names.flatmap(lambda ns: st.tuples(*[_CLASS.map(lambda c, n=n: {"name": n, **c}) for n in ns]).map(list))
    videos = sorted(server["videos"].values())
    ids = (
        {"index_id": st.just(server["index_id"])}
        if bulk
        else {"video_ids": st.permutations(videos) | st.lists(st.sampled_from(videos), min_size=1, max_size=3)}
    )
    # low thresholds and small pages half the time, so that results fill several pages
    threshold = st.just({"min_video_score": 1, "min_clip_score": 1, "min_duration_ratio": 0.01}) | _THRESHOLD
    return st.fixed_dictionaries(
        {**ids, "options": _OPTIONS, "classes": classes},
        optional={
            "conversation_option": st.sampled_from(CONVERSATION_OPTIONS),
            "page_limit": st.just(1) | st.integers(1, 50),
            "include_clips": st.booleans(),
            "show_detailed_score": st.booleans(),
            "threshold": threshold | st.integers(0, 100) if bulk else threshold,
        },
    )


@st.composite
def _hostile(draw, server, valid):
    """A valid body as it is or asking for one video per page, with some fields dropped or replaced by random JSON,
    or random JSON."""
    kind = draw(st.sampled_from(["valid", "paged", "mutated", "random"]))
    if kind == "random":
        return kind, draw(_JSON)
    body = draw(valid)
    if kind == "paged":  # all videos, one per page, low thresholds: results over several pages
        if "video_ids" in body:
            body["video_ids"] = sorted(server["videos"].values())
        body.update(page_limit=1, threshold={"min_video_score": 1, "min_clip_score": 1, "min_duration_ratio": 0.01})
    if kind == "mutated":
        for name in draw(st.lists(st.sampled_from(sorted(body) + ["classes.0"]), min_size=1, max_size=3)):
            classes = body.get("classes")
            first_class = classes[0] if isinstance(classes, list) and classes and isinstance(classes[0], dict) else None
            if name == "classes.0" and first_class is None:  # an earlier mutation replaced the classes
                continue
            target, key = (
                (first_class, draw(st.sampled_from(["name", "prompts", "options", "x"])))
                if name == "classes.0"
                else (body, name)
            )
            if draw(st.booleans()):
                target.pop(key, None)
            else:
                target[key] = draw(_JSON)
    return kind, body


def _follow_pages(server, first: dict, body: dict) -> list[dict]:
    """Every page of a result set through its tokens, checking each; the videos of all pages in order."""
    pages, seen = [first], set()
    while pages[-1]["page_info"]["next_page_token"]:
        reply = httpx.get(
            f"{server['base']}/v1.2/classify/{pages[-1]['page_info']['next_page_token']}",
            headers={"x-api-key": KEY},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        pages.append(reply.json())
    videos = [v for page in pages for v in page["data"]]
    allowed = set(body.get("video_ids") or server["videos"].values())
    for page in pages:
        assert len(page["data"]) <= body.get("page_limit", 10)
        assert page["page_info"]["total_results"] == len(videos)
    for video in videos:
        assert video["video_id"] in allowed and video["video_id"] not in seen
        seen.add(video["video_id"])
        scores = [c["score"] for c in video["classes"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= x <= 100 for x in scores)
    best = [v["classes"][0]["score"] for v in videos]
    assert best == sorted(best, reverse=True)
    return videos


def test_hostile_bodies_never_get_a_5xx_or_a_traceback(server):
    outcomes = Counter()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), bulk=st.booleans())
    def post(data, bulk):
        kind, body = data.draw(_hostile(server, _valid_bodies(server, bulk)))
        response = _post(server, "/v1.2/classify/bulk" if bulk else "/v1.2/classify", body)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/json" and "Traceback" not in response.text
        outcomes[kind, response.status_code] += 1
        if kind in ("valid", "paged"):  # real ids and every field within the contract: accepted, scored and paged
            assert response.status_code == 200, (body, response.text)
            videos = _follow_pages(server, response.json(), body)
            outcomes["videos returned"] += len(videos)
            outcomes["results over several pages"] += len(videos) > body.get("page_limit", 10)
        elif response.status_code != 200:
            assert set(response.json()) == {"code", "message", "docs_url"}

    post()
    print(dict(outcomes))
    assert outcomes["videos returned"] and outcomes["results over several pages"], outcomes


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

    assert set(tomllib.loads(shipped.read_text())) <= {
        "host",
        "port",
        "api_key",
        "watch",
        "poll_interval",
        "settle",
        "ready_timeout",
    }


def test_path_like_ids_and_tokens_reach_nothing(server):
    headers = {"x-api-key": KEY}
    for path in ("/v1.2/classify/..%2F..%2Fetc%2Fpasswd", "/v1.2/classify/../../etc/passwd"):
        response = httpx.get(f"{server['base']}{path}", headers=headers)
        assert response.status_code in (400, 404) and "root:" not in response.text
        assert set(response.json()) == {"code", "message", "docs_url"}
    _assert_error(
        httpx.get(f"{server['base']}/v1.2/indexes/..%2F..%2Fetc/videos", headers=headers), 404, "resource_not_exist"
    )
    _assert_error(
        _post(server, "/v1.2/classify", {"video_ids": ["../../etc/passwd"], "options": ["visual"], "classes": CLASSES}),
        404,
        "resource_not_exist",
    )
