"""What `edge serve` offers a browser besides the JSON API: the page at `/` and its static files, clip
thumbnails and the video files themselves (HTTP range requests), all from the library's folders only.

The thumbnail and file routes sit under /v1.2 behind the API's key check; since <img> and <video> cannot send
an x-api-key header, they also take the key from the `edge_api_key` cookie that the page sets (SameSite=Strict,
so no other site's page can make a browser send it).
"""

from __future__ import annotations

import mimetypes

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge.contract import ApiError
from edge.media import served_file
from edge.thumbnails import ThumbnailCache, ThumbnailError, parse_peak, peak_name
from edge.webview import STATIC_DIR, page_html

KEY_COOKIE = "edge_api_key"


def thumbnail_link(request: Request):
    """The absolute thumbnail_url of a clip, for the host name the client used to reach this server."""
    base = str(request.base_url).rstrip("/")
    return lambda video_id, t: f"{base}/v1.2/thumbnails/{video_id}/{peak_name(t)}.jpg"


def web_routes(api, locked, store, thumbnails: ThumbnailCache) -> list:
    """`api(handler, cookie=True)` wraps a handler with the API's key check; `locked(fn, *args)` runs store
    work under the server's lock."""

    async def thumbnail(request: Request) -> Response:
        video_id, name = request.path_params["video_id"], request.path_params["peak"]
        t = parse_peak(name)
        if t is None:
            raise ApiError(
                "resource_not_exist",
                f"No thumbnail {name}.jpg: the name is the clip's peak time in "
                f"seconds (at most 2 decimals), as thumbnail_url gives it.",
                404,
            )
        path, duration = await locked(served_file, store, video_id)
        if t > duration:
            raise ApiError(
                "resource_not_exist", f"The video {video_id} lasts {duration:.2f} s; no thumbnail at {name} s.", 404
            )
        try:
            jpeg = await run_in_threadpool(thumbnails.get, video_id, t, path)
        except ThumbnailError as exc:
            raise ApiError("resource_not_exist", f"No thumbnail: {exc}.", 404) from None
        # private: behind a key; a video id names its bytes, so the picture never changes
        return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})

    async def video_file(request: Request) -> Response:
        path, _ = await locked(served_file, store, request.path_params["video_id"])
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)  # answers Range requests with 206

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html())

    return [
        Route("/", page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        Route("/v1.2/thumbnails/{video_id}/{peak}.jpg", api(thumbnail, cookie=True), methods=["GET"]),
        Route("/v1.2/videos/{video_id}/file", api(video_file, cookie=True), methods=["GET"]),
    ]
