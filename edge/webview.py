"""The results view as HTML: one template, stylesheet and script (edge/static) for both the page on
`edge serve` (files linked, data from the API) and `edge report` (everything inlined: one file that opens
anywhere, with no server and no network)."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from edge.media import local_file
from edge.store import Store
from edge.thumbnails import ThumbnailError, frame_jpeg, parse_peak

STATIC_DIR = Path(__file__).parent / "static"
_THUMBNAIL_NAME = re.compile(r"/([0-9a-f]{24})/([0-9.]+)\.jpg$")


def _static(name: str) -> str:
    return (STATIC_DIR / name).read_text()


def _fill(title: str, subtitle: str, style: str, script: str, form: str = "", data: str = "") -> str:
    return Template(_static("view.html")).substitute(
        title=html.escape(title), subtitle=html.escape(subtitle), style=style, script=script, form=form, data=data
    )


def page_html() -> str:
    return _fill(
        "edge",
        "Offline video classification: which videos show it, and when",
        '<link rel="stylesheet" href="/static/edge.css">',
        '<script src="/static/edge.js"></script>',
        form=_static("form.html"),
    )


def _script_json(payload: dict) -> str:
    """JSON that can sit inside <script>: no "</script>" or "<!--" can end or change it."""
    return json.dumps(payload).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def report_html(view: dict, title: str) -> str:
    """One self-contained file: `view` is {data, videos, total_results, note} with thumbnails as data: URLs."""
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return _fill(
        title,
        f"edge report, {generated}",
        f"<style>\n{_static('edge.css')}</style>",
        f"<script>\n{_static('edge.js')}</script>",
        data=f'<script type="application/json" id="report-data">{_script_json(view)}</script>',
    )


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def local_thumbnails(store: Store) -> Callable[[str, float], str | None]:
    """(video_id, t) -> a data: URL of that frame from the video's local file (None when the file is gone);
    usable as a classifier's thumbnail link, so a report's clips carry their pictures."""
    made: dict[tuple[str, float], str | None] = {}

    def embed(video_id: str, t: float) -> str | None:
        if (video_id, t) not in made:
            path = local_file(store, video_id)
            try:
                made[(video_id, t)] = data_url(frame_jpeg(path, t)) if path else None
            except ThumbnailError:
                made[(video_id, t)] = None
        return made[(video_id, t)]

    return embed


def _peak_of(clip: dict) -> float:
    """Where a clip's picture is: the peak its thumbnail_url names, else its middle."""
    match = _THUMBNAIL_NAME.search(clip.get("thumbnail_url") or "")
    peak = parse_peak(match.group(2)) if match else None
    return peak if peak is not None else (clip["start"] + clip["end"]) / 2


def _saved_file(url: str) -> str | None:
    """A file:// thumbnail (from `edge classify --thumbnails DIR`) that is readable here, as a data: URL."""
    if not url.startswith("file://"):
        return None
    try:
        return data_url(Path(url.removeprefix("file://")).read_bytes())
    except OSError:
        return None


def embed_pictures(data: list[dict], embed: Callable[[str, float], str | None]) -> None:
    """Pictures for the clips of a response read from a file: its thumbnail_urls point at a server or a folder
    that whoever opens the report cannot reach, so each becomes a data: URL made from the local video."""
    for video in data:
        for entry in video["classes"]:
            for clip in entry.get("clips", []):
                url = clip.get("thumbnail_url") or ""
                clip["thumbnail_url"] = embed(video["video_id"], _peak_of(clip)) or _saved_file(url)


def report_view(store: Store, data: list[dict], total_results: int) -> dict:
    """What the report script shows: the videos' results, names and lengths (from the local library)."""
    for video in data:
        for entry in video["classes"]:
            for clip in entry.get("clips", []):
                if not clip.get("thumbnail_url"):
                    clip.pop("thumbnail_url", None)
    known = store.videos([v["video_id"] for v in data]) if data else []
    videos = {row.video_id: {"filename": row.filename, "duration": row.duration} for row in known}
    note = "" if total_results <= len(data) else f"This file holds the first {len(data)} of {total_results} videos."
    return {"data": data, "videos": videos, "total_results": total_results, "note": note}
