"""Settings: every variable validated at start-up; a bad one is named in a clear error (exit code 2 in the CLI)."""

from __future__ import annotations

import pytest
from conftest import run_edge

from edge.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("EDGE_SAMPLE_FPS", "0", "EDGE_SAMPLE_FPS must be > 0"),
        ("EDGE_SAMPLE_FPS", "fast", "EDGE_SAMPLE_FPS must be a number"),
        ("EDGE_PAGE_TTL", "-5", "EDGE_PAGE_TTL must be > 0"),
        ("EDGE_THREADS", "1.5", "EDGE_THREADS must be a whole number"),
        ("EDGE_SOURCES", "visual,smell", "EDGE_SOURCES must name some of visual, conversation, text_in_video"),
        ("EDGE_PROVIDER", "gpu", "EDGE_PROVIDER must name some of tensorrt, cuda, cpu"),
        ("EDGE_PROVIDER", "cuda,cpu", "EDGE_PROVIDER names one provider"),
        ("EDGE_RATE_LIMIT", "0", "EDGE_RATE_LIMIT must be >= 1"),
        ("EDGE_RATE_WINDOW", "0", "EDGE_RATE_WINDOW must be > 0"),
        ("EDGE_FRAME_NICE", "25", "EDGE_FRAME_NICE must be >= 0 and <= 19"),
        ("EDGE_THUMBNAIL_CACHE_MB", "lots", "EDGE_THUMBNAIL_CACHE_MB must be a number"),
        ("EDGE_THUMBNAIL_CACHE_MB", "-1", "EDGE_THUMBNAIL_CACHE_MB must be >= 0"),
        ("EDGE_FRAME_VIEWS", "2", "EDGE_FRAME_VIEWS must be one of on, off"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch, name, value, said):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=said):
        load_settings()


def test_settings_parse_and_default(monkeypatch):
    for name, value in {
        "EDGE_SAMPLE_FPS": "2",
        "EDGE_SOURCES": " Visual , conversation ",
        "EDGE_PROVIDER": "CPU",
        "EDGE_API_KEYS": "k1, k2,",
        "EDGE_RATE_LIMIT": "60",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EDGE_PAGE_TTL", raising=False)
    monkeypatch.delenv("EDGE_RATE_WINDOW", raising=False)
    settings = load_settings()
    assert (settings.sample_fps, settings.sources, settings.provider) == (2.0, ("visual", "conversation"), "cpu")
    assert (settings.api_keys, settings.rate_limit, settings.page_ttl_s) == (("k1", "k2"), 60, 300.0)
    assert settings.rate_window_s == 60.0


def test_the_cli_stops_at_start_up_naming_the_variable(tmp_path):
    code, _, err = run_edge("videos", env={"EDGE_HOME": str(tmp_path), "EDGE_SAMPLE_FPS": "0"})
    assert code == 2 and "EDGE_SAMPLE_FPS must be > 0 and <= 60, got '0'" in err and "Traceback" not in err
