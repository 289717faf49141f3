"""Thumbnails, video files and the web page of a real `edge serve` on loopback (with a key), `edge classify
--thumbnails`, `edge report`, and the page and a report in a real headless Chromium (Debian's, via Selenium and
Debian's chromium-driver; never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from conftest import run_edge, serving

KEY = "web-key"
CLASSES = [{"name": "cat", "prompts": ["a cat", "kitten"]}, {"name": "coffee", "prompts": ["a cup of coffee"]}]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
]


@pytest.fixture(scope="module")
def site(models_dir, sample_dir, shared_cache, tmp_path_factory):
    """The sample indexed once (visual) as index "demo", plus a video indexed from outside any index's folder;
    one server with a key for the module."""
    from make_sample import write_video

    home = tmp_path_factory.mktemp("web-home")
    env = {
        "EDGE_HOME": str(home),
        "EDGE_CACHE_DIR": str(shared_cache),
        "EDGE_SOURCES": "visual",
        "EDGE_API_KEYS": "",
        "EDGE_THUMBNAIL_CACHE_MB": "8",
    }
    code, report, err = run_edge("index", str(sample_dir), "--name", "demo", env=env)
    assert code == 0, err
    outside = tmp_path_factory.mktemp("elsewhere") / "elsewhere.mp4"
    write_video(outside, [("coffee", 2)], size=(320, 180))
    code, lone, err = run_edge("index", str(outside), env=env)  # a file, not a folder: no index's root holds it
    assert code == 0, err
    videos = {r["path"].rsplit("/", 1)[-1]: r["video_id"] for r in report["indexed"] + lone["indexed"]}
    log = tmp_path_factory.mktemp("web-log") / "server.log"
    with serving(env, log, "--api-key", KEY) as (_, base):
        yield {
            "base": base,
            "env": env,
            "videos": videos,
            "sample": sample_dir,
            "outside": outside,
            "index_id": report["indexes"][0]["index_id"],
            "thumbnails": shared_cache / "thumbnails",
        }


def _get(site, path: str, key: str | None = KEY, **kwargs) -> httpx.Response:
    headers = {"x-api-key": key} if key else {}
    return httpx.get(f"{site['base']}{path}", headers={**headers, **kwargs.pop("headers", {})}, timeout=60, **kwargs)


def _classify(site, video_ids: list[str], **extra) -> dict:
    body = {
        "video_ids": video_ids,
        "options": ["visual"],
        "classes": CLASSES,
        "include_clips": True,
        "threshold": {"min_duration_ratio": 0.05, "min_video_score": 50},  # scores are probabilities
        **extra,
    }
    reply = httpx.post(f"{site['base']}/v1.2/classify", json=body, headers={"x-api-key": KEY}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _clips(response: dict) -> dict[str, dict]:
    return {c["name"]: clip for v in response["data"] for c in v["classes"] for clip in c["clips"]}


def _error(reply: httpx.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json" and reply.json()["code"] == code, reply.text


def _frame(path: Path, t: float) -> np.ndarray:
    from edge.decode import sample_frames

    return next(f for s, f in sample_frames(path, 1.0) if abs(s - t) < 0.05)


def test_clips_carry_absolute_thumbnail_urls_of_their_peak(site):
    video = site["videos"]["cat_coffee.mp4"]
    response = _classify(site, [video])
    clips = _clips(response)
    for name, (lo, hi) in {"cat": (0, 6), "coffee": (6, 12)}.items():
        url = clips[name]["thumbnail_url"]
        assert url.startswith(f"{site['base']}/v1.2/thumbnails/{video}/") and url.endswith(".jpg")
        peak = float(url.rsplit("/", 1)[1].removesuffix(".jpg"))
        assert lo <= peak <= hi and clips[name]["start"] <= peak <= clips[name]["end"]
        assert set(clips[name]) == {"start", "end", "score", "option", "prompt", "thumbnail_url"}  # no peak field
        reply = httpx.get(url, headers={"x-api-key": KEY}, timeout=60)
        assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
        picture = cv2.imdecode(np.frombuffer(reply.content, np.uint8), cv2.IMREAD_COLOR)
        assert picture.shape == (180, 320, 3)  # 1280x720 fitted into 320x180
        # the very frame indexing saw at the peak (JPEG and scaling aside)
        expected = cv2.resize(
            cv2.cvtColor(_frame(site["sample"] / "cat_coffee.mp4", peak), cv2.COLOR_RGB2BGR),
            (320, 180),
            interpolation=cv2.INTER_AREA,
        )
        assert np.abs(picture.astype(int) - expected).mean() < 4
    # later pages carry them too, and a video without clips in the request has none
    paged = _classify(site, sorted(site["videos"][n] for n in ("cat_coffee.mp4", "rocket.mp4")), page_limit=1)
    assert all("thumbnail_url" in clip for clip in _clips(paged).values())
    without = _classify(site, [video], include_clips=False)
    assert all("clips" not in c for v in without["data"] for c in v["classes"])


def test_thumbnail_access_follows_the_api_key(site):
    video = site["videos"]["cat_coffee.mp4"]
    path = f"/v1.2/thumbnails/{video}/3.jpg"
    _error(_get(site, path, key=None), 401, "api_key_invalid")
    _error(_get(site, path, key="wrong"), 401, "api_key_invalid")
    assert _get(site, path).status_code == 200
    # the page's cookie, for <img> and <video>, which cannot send headers; wrong cookies are refused
    assert _get(site, path, key=None, cookies={"edge_api_key": KEY}).status_code == 200
    _error(_get(site, path, key=None, cookies={"edge_api_key": "wrong"}), 401, "api_key_invalid")
    # the cookie opens pictures and videos only, not the JSON API
    _error(_get(site, "/v1.2/indexes", key=None, cookies={"edge_api_key": KEY}), 401, "api_key_invalid")


def test_thumbnails_and_files_only_from_inside_the_library(site):
    inside, outside = site["videos"]["cat_coffee.mp4"], site["videos"]["elsewhere.mp4"]
    _error(_get(site, f"/v1.2/thumbnails/{outside}/1.jpg"), 403, "access_denied")
    _error(_get(site, f"/v1.2/videos/{outside}/file"), 403, "access_denied")
    for path in (
        f"/v1.2/thumbnails/{'0' * 24}/1.jpg",
        "/v1.2/thumbnails/..%2F..%2Fetc/1.jpg",
        f"/v1.2/thumbnails/{inside}/..%2F..%2F..%2Fetc%2Fpasswd.jpg",
        "/v1.2/videos/..%2Fetc%2Fpasswd/file",
        f"/v1.2/thumbnails/{inside}/1.0.jpg",  # one spelling per moment (the cache key)
        f"/v1.2/thumbnails/{inside}/13.jpg",
    ):  # after the end of the 12 s video
        reply = _get(site, path)
        assert reply.status_code == 404 and "root:" not in reply.text, (path, reply.text)
    # a file changed since it was indexed is not what its id names: refused until indexed again
    sample = site["sample"] / "cat_coffee.mp4"
    stat = sample.stat()
    os.utime(sample, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        _error(_get(site, f"/v1.2/thumbnails/{inside}/2.jpg"), 404, "resource_not_exist")
        assert "changed" in _get(site, f"/v1.2/videos/{inside}/file").json()["message"]
    finally:
        os.utime(sample, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _get(site, f"/v1.2/thumbnails/{inside}/2.jpg").status_code == 200


def test_video_file_answers_range_requests(site):
    video = site["videos"]["cat_coffee.mp4"]
    data = (site["sample"] / "cat_coffee.mp4").read_bytes()
    path = f"/v1.2/videos/{video}/file"
    _error(_get(site, path, key=None), 401, "api_key_invalid")
    whole = _get(site, path)
    assert whole.status_code == 200 and whole.content == data and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = _get(site, path, headers={"range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = _get(site, path, headers={"range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    assert _get(site, path, headers={"range": f"bytes={len(data) + 10}-"}).status_code == 416


def test_thumbnail_cache_keeps_under_its_cap_and_drops_the_least_recently_read(site, tmp_path):
    from edge.thumbnails import ThumbnailCache, frame_jpeg

    video, path = site["videos"]["cat_coffee.mp4"], site["sample"] / "cat_coffee.mp4"
    sizes = {t: len(frame_jpeg(path, t)) for t in (1, 2, 3, 4)}
    cache = ThumbnailCache(tmp_path / "thumbs", cap_bytes=sizes[1] + sizes[2] + sizes[3])
    for t in (1, 2, 3):
        cache.get(video, t, path)
    cache.get(video, 1, path)  # read again: 2 is now the one read longest ago
    assert cache.get(video, 4, path) == frame_jpeg(path, 4)
    kept = sorted(p.name for p in (tmp_path / "thumbs" / video).iterdir())
    assert kept == ["1.jpg", "3.jpg", "4.jpg"] or kept == ["1.jpg", "4.jpg"]  # 4 may need the room of two
    assert cache.bytes == sum(p.stat().st_size for p in (tmp_path / "thumbs").rglob("*.jpg")) <= cache.cap
    # a restart orders what is on disk by file time (a read touches the file) and keeps the cap, also a lower one
    for age, name in enumerate(reversed(kept)):  # the newest last, as the reads left them
        os.utime(tmp_path / "thumbs" / video / name, (10**6 - age, 10**6 - age))
    smaller = ThumbnailCache(tmp_path / "thumbs", cap_bytes=sizes[4])
    assert [p.name for p in (tmp_path / "thumbs" / video).iterdir()] == ["4.jpg"] and smaller.bytes == sizes[4]
    # the server's own cache stays under EDGE_THUMBNAIL_CACHE_MB (8 MB here)
    assert sum(p.stat().st_size for p in site["thumbnails"].rglob("*.jpg")) <= 8 << 20


def test_cli_writes_thumbnails_only_when_asked(site, tmp_path):
    video = site["videos"]["cat_coffee.mp4"]
    args = [
        "classify",
        "--video",
        video,
        "--class",
        "cat: a cat; kitten",
        "--include-clips",
        "--min-duration-ratio",
        "0.05",
    ]
    code, plain, err = run_edge(*args, env=site["env"])
    assert code == 0, err
    assert all("thumbnail_url" not in clip for clip in _clips(plain).values())
    code, shown, err = run_edge(*args, "--thumbnails", str(tmp_path / "thumbs"), env=site["env"])
    assert code == 0, err
    url = _clips(shown)["cat"]["thumbnail_url"]
    assert url.startswith(f"file://{tmp_path}/thumbs/{video}/") and url.endswith(".jpg")
    picture = cv2.imread(url.removeprefix("file://"))
    assert picture is not None and picture.shape == (180, 320, 3)


def _report(site, tmp_path, source: dict, name: str) -> str:
    import json

    body = tmp_path / f"{name}.json"
    body.write_text(json.dumps(source))
    code, summary, err = run_edge("report", str(body), "-o", str(tmp_path / f"{name}.html"), env=site["env"])
    assert code == 0, err
    return (tmp_path / f"{name}.html").read_text(), summary


def test_report_is_one_self_contained_file(site, tmp_path):
    video = site["videos"]["cat_coffee.mp4"]
    response = _classify(site, [video])  # thumbnail_urls of the server: the report embeds the pictures
    html, summary = _report(site, tmp_path, response, "from-response")
    assert summary == {"report": str(tmp_path / "from-response.html"), "videos": 1, "clips": 2, "thumbnails": 2}
    assert html.count("data:image/jpeg;base64,") == 2 and site["base"] not in html
    assert "<link" not in html and "<script src" not in html and "http://" not in html and "https://" not in html
    request = {
        "video_ids": [video, site["videos"]["rocket.mp4"]],
        "options": ["visual"],
        "classes": CLASSES + [{"name": "rocket", "prompts": ["a rocket"]}],
        "threshold": {"min_duration_ratio": 0.05, "min_video_score": 50},  # scores are probabilities
    }
    html, summary = _report(site, tmp_path, request, "from-request")  # run here, with clips
    # a picture for every clip; each of the three classes is found (the rocket's span may come as two clips)
    assert summary["videos"] == 2 and summary["clips"] == summary["thumbnails"] >= 3
    code, _, err = run_edge("report", "-o", str(tmp_path / "x.html"), env=site["env"], stdin='{"nothing": 1}')
    assert code == 2 and "expected a classify response" in err


# --- in a real browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            "browser tests need Debian's chromium and chromium-driver (`make system-deps` installs them "
            "with apt-get); they could not be installed here"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no Selenium Manager
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def _pictures_loaded(driver) -> bool:
    return driver.execute_script(
        "const i = [...document.querySelectorAll('.thumb img')];"
        "return i.length > 0 && i.every(x => x.complete && x.naturalWidth > 0);"
    )


def test_page_classifies_shows_timelines_and_thumbnails_and_plays_a_clip(site, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{site['base']}/")
    _wait(browser, lambda d: "API key" in d.find_element(By.ID, "status").text)  # the server has keys
    key = browser.find_element(By.ID, "key")
    key.send_keys(KEY, Keys.TAB)
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "input[name=video]")) == 2)
    classes = browser.find_element(By.ID, "classes")
    classes.clear()
    classes.send_keys("cat: a cat; kitten\ncoffee: a cup of coffee\nrocket: a rocket")
    score = browser.find_element(By.ID, "min-video-score")  # class scores are probabilities: more likely than not
    score.clear()
    score.send_keys("50")
    browser.find_element(By.ID, "classify").click()  # no video ticked: the whole index (bulk)
    _wait(browser, lambda d: "matched" in d.find_element(By.ID, "status").text)
    assert browser.find_element(By.ID, "status").text.startswith("2 of 2 videos matched")
    rows = {r.find_element(By.TAG_NAME, "h3").text: r for r in browser.find_elements(By.CSS_SELECTOR, "article")}
    assert set(rows) == {"cat_coffee.mp4", "rocket.mp4"}
    bars = {
        c.get_attribute("data-class"): c.find_elements(By.CSS_SELECTOR, ".bar")
        for c in rows["cat_coffee.mp4"].find_elements(By.CSS_SELECTOR, ".class")
    }
    assert set(bars) == {"cat", "coffee"}
    cat, coffee = bars["cat"][0], bars["coffee"][0]
    assert (float(cat.get_attribute("data-start")), float(cat.get_attribute("data-end"))) == (0, 6)
    assert "opt-visual" in cat.get_attribute("class") and "score" in cat.get_attribute("title")
    track = rows["cat_coffee.mp4"].find_element(By.CSS_SELECTOR, "[data-class=coffee] .track")
    assert abs(coffee.location["x"] - track.location["x"] - track.size["width"] / 2) <= 2  # drawn from 6 s of 12
    _wait(browser, _pictures_loaded)
    # keyboard: the coffee bar is a button; Enter plays its clip in the page, from its start
    coffee.send_keys(Keys.ENTER)
    played = _wait(
        browser,
        lambda d: d.execute_script(
            "const v = document.querySelector('article video');"
            "return v && !v.paused && v.currentTime > 6.2 ? v.currentTime : false;"
        ),
    )
    assert 6.0 < played < 12.0
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height + 140, 2400))  # the whole page (the window has browser chrome)
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000
    if os.environ.get("EDGE_PAGE_SCREENSHOT"):  # README's picture: EDGE_PAGE_SCREENSHOT=docs/page.png
        shutil.copy(tmp_path / "page.png", os.environ["EDGE_PAGE_SCREENSHOT"])


def test_page_saves_and_loads_a_class_set(site, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(f"{site['base']}/")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sets option"))
    browser.find_element(By.ID, "classes").clear()
    browser.find_element(By.ID, "classes").send_keys("dog: a dog")
    browser.find_element(By.ID, "set-name").send_keys("dogs")
    browser.find_element(By.ID, "save-set").click()
    browser.get(f"{site['base']}/")  # saved in the browser, across visits
    _wait(browser, lambda d: "dogs" in [o.text for o in d.find_elements(By.CSS_SELECTOR, "#sets option")])
    assert browser.find_element(By.ID, "classes").get_attribute("value").startswith("cat:")
    Select(browser.find_element(By.ID, "sets")).select_by_visible_text("dogs")
    browser.find_element(By.ID, "load-set").click()
    assert browser.find_element(By.ID, "classes").get_attribute("value") == "dog: a dog"


def test_report_opens_in_the_browser_without_a_server(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    request = {
        "video_ids": [site["videos"]["cat_coffee.mp4"]],
        "options": ["visual"],
        "classes": CLASSES,
        "threshold": {"min_duration_ratio": 0.05, "min_video_score": 50},  # scores are probabilities
    }
    _report(site, tmp_path, request, "shared")
    browser.get((tmp_path / "shared.html").as_uri())
    _wait(browser, lambda d: "matched" in d.find_element(By.ID, "status").text)
    assert browser.find_elements(By.ID, "query") == []  # a report has no form
    assert len(browser.find_elements(By.CSS_SELECTOR, ".bar")) == 2
    _wait(browser, _pictures_loaded)
    browser.find_element(By.CSS_SELECTOR, "[data-class=coffee] .thumb").click()  # shows the clip's picture
    figure = browser.find_element(By.CSS_SELECTOR, ".player figure")
    assert "coffee" in figure.text and figure.find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:")
