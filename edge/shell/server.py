"""`edge serve`: the v1.2 classify API over HTTP (Starlette on uvicorn), a thin shell over edge.classify.

Every reply is JSON. Errors use the contract's body {"code", "message", "docs_url"}. Requests under /v1.2
need an `x-api-key` from the configured keys when any are configured (none: loopback use, no auth).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.classify import rfc3339
from edge.contract import DOCS_URL, ApiError, parse_request
from edge.runtime import opened_providers
from edge.shell.openapi import OPENAPI
from edge.shell.webroutes import KEY_COOKIE, thumbnail_link, web_routes

log = logging.getLogger("edge.server")

# Requests per minute and API key reported in X-Ratelimit-*; enforced (HTTP 429) only when EDGE_RATE_LIMIT is set.
DEFAULT_RATE_LIMIT = 600
_HTTP_CODES = {404: "resource_not_exist", 405: "method_not_allowed"}


def check_exposure(host: str, api_keys: list[str]) -> None:
    """Refuse to serve beyond this machine without a key: the API lists and classifies the whole library."""
    if api_keys:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"refusing to listen on {host} without an API key: pass --api-key or set EDGE_API_KEYS "
            f"(or bind to 127.0.0.1)"
        )


class RateCounter:
    """Requests per key in the current wall-clock window, a minute by default (a fixed window: simple, and enough
    to report usage)."""

    def __init__(self, limit: int, enforce: bool, window_s: float = 60.0):
        self.limit, self.enforce, self.window_s = limit, enforce, window_s
        self._window, self._used = -1, Counter()

    def hit(self, key: str) -> tuple[int, bool]:
        window = int(time.time() // self.window_s)
        if window != self._window:
            self._window, self._used = window, Counter()
        self._used[key] += 1
        used = self._used[key]
        return used, self.enforce and used > self.limit

    def retry_after(self) -> str:
        """Whole seconds until the next window starts (the Retry-After of a 429)."""
        return str(max(1, math.ceil((self._window + 1) * self.window_s - time.time())))

    def headers(self, used: int) -> dict[str, str]:
        return {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(max(0, self.limit - used)),
            "X-Ratelimit-Used": str(used),
        }


def _error(error: ApiError, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _page_args(request: Request) -> tuple[int, int]:
    values = []
    for name, default, high in (("page", 1, None), ("page_limit", 10, 50)):
        raw = request.query_params.get(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1 or (high and value > high):
            raise ApiError(
                "parameter_invalid",
                f"The {name} parameter is invalid: expected an integer between 1 "
                f"and {high or 'the last page'}, got {raw!r}.",
            )
        values.append(value)
    return values[0], values[1]


def _paged(items: list[dict], request: Request) -> dict:
    """The hosted API's numbered pages (list endpoints use these, classify uses tokens)."""
    page, limit = _page_args(request)
    return {
        "data": items[(page - 1) * limit : page * limit],
        "page_info": {
            "limit_per_page": limit,
            "page": page,
            "total_page": max(1, -(-len(items) // limit)),
            "total_results": len(items),
        },
    }


@dataclass(frozen=True)
class ServeOptions:
    api_keys: tuple[str, ...] = ()  # none: no key needed (loopback use only, see check_exposure)
    rate_limit: int | None = None  # requests per minute and key, enforced (HTTP 429) when set
    rate_window_s: float = 60.0  # the window those requests are counted in
    watcher: object | None = None  # an edge.watch.Watcher: started with the app, stopped on shutdown (SIGTERM)
    ready_timeout_s: float = 10.0  # how long a request for a video still in the watch queue waits


def create_app(edge, options: ServeOptions = ServeOptions()) -> Starlette:
    """The HTTP API over an appliance (edge.appliance.Edge), whose models are loaded by now or on first use."""
    store, classifier, watcher, thumbnails = edge.store, edge.classifier, options.watcher, edge.thumbnails
    api_keys, rate_limit, ready_timeout_s = options.api_keys, options.rate_limit, options.ready_timeout_s
    # One sqlite3 connection and the classifier's caches are shared: one request works on them at a time,
    # in a worker thread so the event loop keeps accepting connections meanwhile. A threading lock (not an
    # asyncio one) because a cancelled request must not release the lock while its thread still runs.
    lock = threading.Lock()
    rates = RateCounter(
        DEFAULT_RATE_LIMIT if rate_limit is None else rate_limit,
        enforce=rate_limit is not None,
        window_s=options.rate_window_s,
    )

    def serialised(fn, *args):
        with lock:
            return fn(*args)

    async def locked(fn, *args):
        return await run_in_threadpool(serialised, fn, *args)

    def api(handler, cookie: bool = False):
        """Auth, rate accounting and ApiError -> error body, around a /v1.2 handler returning a dict (or a
        Response). `cookie`: the key may come from the page's cookie (pictures and videos: no headers there)."""

        async def endpoint(request: Request) -> Response:
            key = request.headers.get("x-api-key") or (request.cookies.get(KEY_COOKIE, "") if cookie else "")
            if api_keys and not any(hmac.compare_digest(key.encode(), k.encode()) for k in api_keys):
                return _error(
                    ApiError("api_key_invalid", "The x-api-key header is missing or not a valid API key.", 401)
                )
            used, over = rates.hit(key)
            headers = rates.headers(used)
            if over:
                return _error(
                    ApiError(
                        "too_many_requests",
                        f"More than {rates.limit} requests in this "
                        f"{rates.window_s:g} s window for this API key; retry "
                        f"in the next one.",
                        429,
                    ),
                    {**headers, "Retry-After": rates.retry_after()},
                )
            try:
                result = await handler(request)
            except ApiError as exc:
                return _error(exc, headers)
            if isinstance(result, Response):
                result.headers.update(headers)
                return result
            return JSONResponse(result, headers=headers)

        return endpoint

    async def json_body(request: Request):
        try:
            return json.loads(await request.body())
        except (ValueError, RecursionError) as exc:  # bad syntax or encoding, or nesting deeper than Python's stack
            raise ApiError("parameter_invalid", f"The request body is not valid JSON: {exc}.") from None

    def missing_while_indexing(video_ids) -> tuple[list[str], int]:
        """Requested ids not (yet) in the store, and how many jobs the watched folders still have to do."""
        known = {v.video_id for v in store.videos(list(video_ids))}
        counts = store.job_counts()
        return [v for v in video_ids if v not in known], counts["queued"] + counts["running"]

    async def wait_until_indexed(video_ids) -> None:
        """An unknown id may be a file still in the queue: wait up to ready_timeout_s for the queue to drain."""
        deadline = time.monotonic() + ready_timeout_s
        while True:
            missing, pending = await locked(missing_while_indexing, video_ids)
            if not missing or not pending:
                return
            if time.monotonic() >= deadline:
                raise ApiError(
                    "resource_not_exist",
                    f"The video {missing[0]} does not exist yet: indexing of the "
                    f"watched folders is still in progress ({pending} files to "
                    f"go); retry later.",
                    404,
                )
            await asyncio.sleep(0.25)

    async def classify(request: Request) -> dict:
        parsed = parse_request(await json_body(request), bulk=False)
        await wait_until_indexed(parsed.video_ids)
        return await locked(classifier.classify, parsed, thumbnail_link(request))

    async def classify_bulk(request: Request) -> dict:
        parsed = parse_request(await json_body(request), bulk=True)
        return await locked(classifier.classify, parsed, thumbnail_link(request))

    async def classify_page(request: Request) -> dict:
        return await locked(classifier.page, request.path_params["page_token"], thumbnail_link(request))

    def index_entries() -> list[dict]:
        entries = []
        for index in store.indexes():
            videos = store.videos(roots=index.roots)
            entries.append(
                {
                    "_id": index.index_id,
                    "index_name": index.name,
                    "created_at": rfc3339(index.created_at),
                    "video_count": len(videos),
                    "total_duration": round(sum(v.duration for v in videos), 3),
                    "engines": [{"engine_name": edge.bundle.name, "engine_options": list(classifier.available)}],
                }
            )
        return entries

    def index_videos(index_id: str) -> list[dict]:
        roots = store.index_roots(index_id)
        if roots is None:
            raise ApiError("resource_not_exist", f"The index {index_id} does not exist.", 404)
        return [
            {
                "_id": v.video_id,
                "status": "ready",
                "created_at": rfc3339(v.created_at),
                "metadata": {
                    "filename": v.filename,
                    "duration": round(v.duration, 3),
                    "fps": v.info.fps,
                    "width": v.info.width,
                    "height": v.info.height,
                    "size": v.size,
                },
            }
            for v in store.videos(roots=roots)
        ]

    async def list_indexes(request: Request) -> dict:
        return _paged(await locked(index_entries), request)

    async def list_videos(request: Request) -> dict:
        return _paged(await locked(index_videos, request.path_params["index_id"]), request)

    async def health(request: Request) -> JSONResponse:
        videos, queue = await locked(lambda: (store.videos(), store.job_counts()))
        return JSONResponse(
            {
                "status": "ok",
                "model_bundle": edge.bundle.key,
                "videos": len(videos),
                "queue": queue,
                # what this process really got; the decoder once indexing (a watched folder) chose one
                "providers": opened_providers(),
                "decoder": edge.decoder.name if "decoder" in edge.__dict__ else None,
            }
        )

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(OPENAPI)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "parameter_invalid")
        what = "route" if exc.status_code == 404 else "method for this route"
        return _error(ApiError(code, f"No such {what}: {request.method} {request.url.path}.", exc.status_code))

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("event=internal_error method=%s path=%s", request.method, request.url.path)
        return JSONResponse(
            {
                "code": "internal_error",
                "message": "The server failed to answer this request; the error is in its log.",
                "docs_url": DOCS_URL,
            },
            status_code=500,
        )

    routes = [
        Route("/v1.2/classify", api(classify), methods=["POST"]),
        Route("/v1.2/classify/bulk", api(classify_bulk), methods=["POST"]),
        Route("/v1.2/classify/{page_token}", api(classify_page), methods=["GET"]),
        Route("/v1.2/indexes", api(list_indexes), methods=["GET"]),
        Route("/v1.2/indexes/{index_id}/videos", api(list_videos), methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *web_routes(api, locked, store, thumbnails),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if watcher:
            watcher.start()
        try:
            yield
        finally:  # uvicorn runs this on SIGTERM/SIGINT, after in-flight requests
            if watcher:
                await run_in_threadpool(watcher.stop)

    return Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, Exception: internal_error}, lifespan=lifespan
    )
