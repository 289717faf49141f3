"""The OpenAPI document of `edge serve` (GET /openapi.json): every rule edge.contract enforces, stated.

Types, enums, ranges and requiredness are JSON Schema; the limits JSON Schema cannot express (all prompts of a
request together, unique class names, total duration) are in the descriptions. Every error reply is documented
with the codes it can carry. tests/test_openapi.py runs schemathesis against a real server with this document.
"""

from __future__ import annotations

from edge.contract import DOCS_URL, LEGACY_THRESHOLDS, MAX_PROMPTS, MAX_TOTAL_DURATION_S
from edge.types import CONVERSATION_OPTIONS, SEMANTIC, SOURCES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, required=(), description: str | None = None) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}
    return {**schema, "description": description} if description else schema


_NON_BLANK = {"type": "string", "pattern": r"\S", "description": "At least one character that is not white space."}
_SCORE = {"type": "number", "minimum": 0, "maximum": 100}
_COUNT = {"type": "integer", "minimum": 0}
_TIME = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC."}
_LIMITS = (
    f"Limits JSON Schema cannot state: all prompts of the request together number at most {MAX_PROMPTS}; "
    f"class names are unique; the videos classified total at most {MAX_TOTAL_DURATION_S // 3600} hours. "
    f"Each is a 400 parameter_invalid naming the limit and the actual value, as is an option the videos "
    f"were not indexed for. v1.1 bodies are also accepted (/classify: video_id for video_ids, labels for "
    f"classes; threshold as {', '.join(LEGACY_THRESHOLDS)})."
)
_THRESHOLD = _object(
    {
        "min_video_score": {
            "type": "number",
            "minimum": 1,
            "maximum": 100,
            "default": 75,
            "description": "Keep a class when its video score >= this.",
        },
        "min_clip_score": {
            "type": "number",
            "minimum": 1,
            "maximum": 100,
            "default": 30,
            "description": "Keep a clip when its score >= this.",
        },
        "min_duration_ratio": {
            "type": "number",
            "minimum": 0.01,
            "maximum": 1,
            "default": 0.5,
            "description": "Keep a class when its clips cover >= this share of the video.",
        },
    }
)
_LEGACY = {
    "type": "string",
    "enum": list(LEGACY_THRESHOLDS),
    "deprecated": True,
    "description": "v1.1 named thresholds: " + ", ".join(f"{k} = {v:g}" for k, v in LEGACY_THRESHOLDS.items()),
}


def _request(ids: dict, threshold: dict, description: str) -> dict:
    return _object(
        {
            **ids,
            "options": _ref("Options"),
            "conversation_option": {**_ref("ConversationOption"), "description": f"Default {SEMANTIC}."},
            "classes": {"type": "array", "items": _ref("Class"), "minItems": 1, "maxItems": MAX_PROMPTS},
            "page_limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 50,
                "default": 10,
                "description": "Videos per page.",
            },
            "include_clips": {"type": "boolean", "default": False},
            "show_detailed_score": {"type": "boolean", "default": False},
            "threshold": threshold,
        },
        (*ids, "options", "classes"),
        f"{description} {_LIMITS}",
    )


_CLIP = _object(
    {
        "start": {"type": "number", "minimum": 0},
        "end": {"type": "number", "minimum": 0},
        "score": _SCORE,
        "option": {"type": "string", "enum": list(SOURCES)},
        "prompt": {"type": "string"},
        "thumbnail_url": {"type": "string"},
    },
    ("start", "end", "score", "option", "prompt"),
)
_CLASS_RESULT = _object(
    {
        "name": {"type": "string"},
        "score": _SCORE,
        "duration_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "clips": {"type": "array", "items": _CLIP, "description": "Only with include_clips."},
        "detailed_scores": _object(
            {"max_score": _SCORE, "avg_score": _SCORE, "normalized_score": _SCORE},
            ("max_score", "avg_score", "normalized_score"),
            "Only with show_detailed_score.",
        ),
    },
    ("name", "score", "duration_ratio"),
)
_PAGE_INFO = _object(
    {
        "limit_per_page": {"type": "integer", "minimum": 1, "maximum": 50},
        "total_results": _COUNT,
        "page_expired_at": _TIME,
        "next_page_token": {"type": "string", "description": "Empty on the last page."},
        "prev_page_token": {"type": "string", "description": "Empty on the first page."},
    },
    ("limit_per_page", "total_results", "page_expired_at", "next_page_token", "prev_page_token"),
)
_NUMBERED = _object(
    {
        "limit_per_page": {"type": "integer", "minimum": 1, "maximum": 50},
        "page": {"type": "integer", "minimum": 1},
        "total_page": {"type": "integer", "minimum": 1},
        "total_results": _COUNT,
    },
    ("limit_per_page", "page", "total_page", "total_results"),
)


def _list(item: dict) -> dict:
    return _object({"data": {"type": "array", "items": item}, "page_info": _NUMBERED}, ("data", "page_info"))


_INDEX = _object(
    {
        "_id": {"type": "string"},
        "index_name": {"type": "string"},
        "created_at": _TIME,
        "video_count": _COUNT,
        "total_duration": {"type": "number", "minimum": 0},
        "engines": {
            "type": "array",
            "items": _object(
                {
                    "engine_name": {"type": "string"},
                    "engine_options": {"type": "array", "items": {"type": "string", "enum": list(SOURCES)}},
                },
                ("engine_name", "engine_options"),
            ),
        },
    },
    ("_id", "index_name", "created_at", "video_count", "total_duration", "engines"),
)
_VIDEO = _object(
    {
        "_id": {"type": "string"},
        "status": {"type": "string", "enum": ["ready"]},
        "created_at": _TIME,
        "metadata": _object(
            {
                "filename": {"type": "string"},
                "duration": {"type": "number", "minimum": 0},
                "fps": {"type": "number", "minimum": 0},
                "width": _COUNT,
                "height": _COUNT,
                "size": _COUNT,
            },
            ("filename", "duration", "fps", "width", "height", "size"),
        ),
    },
    ("_id", "status", "created_at", "metadata"),
)
_HEALTH = _object(
    {
        "status": {"type": "string", "enum": ["ok"]},
        "model_bundle": {"type": "string"},
        "videos": _COUNT,
        "queue": _object(
            {"queued": _COUNT, "running": _COUNT, "failed": _COUNT},
            ("queued", "running", "failed"),
            "Jobs of the watched folders.",
        ),
        "providers": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "The execution providers each model file's session really got.",
        },
        "decoder": {
            "type": ["string", "null"],
            "description": "The frame decoder in use (cpu, nvdec); null before any indexing.",
        },
    },
    ("status", "model_bundle", "videos", "queue", "providers", "decoder"),
)


def _error(*codes: str) -> dict:
    return _object(
        {
            "code": {"type": "string", "enum": list(codes)},
            "message": {"type": "string"},
            "docs_url": {"type": "string", "enum": [DOCS_URL]},
        },
        ("code", "message", "docs_url"),
    )


_RATE_HEADERS = {
    f"X-Ratelimit-{name}": {"description": what, "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
    for name, what in (
        ("Limit", "Requests allowed per key and window (EDGE_RATE_LIMIT, else 600 reported only)."),
        ("Remaining", "Requests left in this window."),
        ("Used", "Requests made in this window, this one included."),
    )
}


def _reply(description: str, schema: dict, headers: dict | None = None) -> dict:
    reply = {"description": description, "content": {"application/json": {"schema": schema}}}
    return {**reply, "headers": headers} if headers else reply


_ERRORS = {
    "400": _reply(
        "Invalid request: the message names the parameter, the rule and the value",
        _error("parameter_invalid", "parameter_not_provided", "parameter_unknown"),
        _RATE_HEADERS,
    ),
    "401": _reply(
        "The x-api-key header is missing or not a valid key (only when the server has keys)", _error("api_key_invalid")
    ),
    "404": _reply(
        "No such video, index or route (a path parameter containing '/' names another route)",
        _error("resource_not_exist"),
    ),
    "429": _reply(
        "More requests in this window than EDGE_RATE_LIMIT allows for this key",
        _error("too_many_requests"),
        {
            **_RATE_HEADERS,
            "Retry-After": {
                "description": "Seconds until the next window.",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            },
        },
    ),
    "500": _reply("The server failed; the details are only in its log", _error("internal_error")),
}


def _responses(ok: dict, *errors: str) -> dict:
    return {"200": ok, **{status: _ERRORS[status] for status in errors}}


_V12 = ("400", "401", "404", "429", "500")
_PAGE = _reply(
    "A page of classify results: videos with at least one class passing the thresholds, best first",
    _ref("ClassifyPage"),
    _RATE_HEADERS,
)
_PAGING = [
    {
        "name": "page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "default": 1},
        "description": "Page number; past the last page the data is empty.",
    },
    {"name": "page_limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
]


_VIDEO_FILE = {
    "description": "The file (video/mp4, video/quicktime, ... after its name)",
    "headers": _RATE_HEADERS,
    "content": {
        "video/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


def _path_id(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _body(name: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "edge: Twelve Labs v1.2 classify API (offline appliance)", "version": "1.2"},
    "components": {
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        "schemas": {
            "Options": {
                "type": "array",
                "items": {"type": "string", "enum": list(SOURCES)},
                "minItems": 1,
                "description": "Evidence sources; a repeated one counts once.",
            },
            "ConversationOption": {"type": "string", "enum": list(CONVERSATION_OPTIONS)},
            "Class": _object(
                {
                    "name": _NON_BLANK,
                    "prompts": {"type": "array", "items": _NON_BLANK, "minItems": 1, "maxItems": MAX_PROMPTS},
                    "options": {**_ref("Options"), "description": "Overrides the request's options."},
                    "conversation_option": {
                        **_ref("ConversationOption"),
                        "description": "Overrides the request's conversation_option.",
                    },
                },
                ("name", "prompts"),
            ),
            "ClassifyRequest": _request(
                {
                    "video_ids": {
                        "type": "array",
                        "items": _NON_BLANK,
                        "minItems": 1,
                        "description": "Ids from GET /v1.2/indexes/{index_id}/videos; an unknown one is a 404; "
                        "a repeated one counts once.",
                    }
                },
                {"anyOf": [_THRESHOLD, _LEGACY]},
                "Classify these videos.",
            ),
            "BulkRequest": _request(
                {
                    "index_id": {
                        "type": "string",
                        "minLength": 1,
                        "description": "An _id from GET /v1.2/indexes; an unknown one is a 404.",
                    }
                },
                {
                    "anyOf": [
                        _THRESHOLD,
                        {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 100,
                            "description": "min_video_score alone (bulk only).",
                        },
                        _LEGACY,
                    ]
                },
                "Classify every video of an index.",
            ),
            "ClassifyPage": _object(
                {
                    "data": {
                        "type": "array",
                        "items": _object(
                            {
                                "video_id": {"type": "string"},
                                "classes": {"type": "array", "items": _CLASS_RESULT, "minItems": 1},
                            },
                            ("video_id", "classes"),
                        ),
                    },
                    "page_info": _PAGE_INFO,
                },
                ("data", "page_info"),
            ),
        },
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/v1.2/classify": {
            "post": {
                "summary": "Classify videos by id",
                "requestBody": _body("ClassifyRequest"),
                "responses": _responses(_PAGE, *_V12),
            }
        },
        "/v1.2/classify/bulk": {
            "post": {
                "summary": "Classify every video of an index",
                "requestBody": _body("BulkRequest"),
                "responses": _responses(_PAGE, *_V12),
            }
        },
        "/v1.2/classify/{page_token}": {
            "get": {
                "summary": "Another page of a classify result set",
                "parameters": [
                    _path_id(
                        "page_token",
                        "next_page_token or prev_page_token of an earlier page; unknown "
                        "and expired tokens (EDGE_PAGE_TTL, 300 s) are a 400.",
                    )
                ],
                "responses": _responses(_PAGE, *_V12),
            }
        },
        "/v1.2/indexes": {
            "get": {
                "summary": "Indexes (folders given to `edge index` or `edge serve --watch`)",
                "parameters": _PAGING,
                "responses": _responses(
                    _reply("A numbered page of indexes", _list(_INDEX), _RATE_HEADERS), "400", "401", "429", "500"
                ),
            }
        },
        "/v1.2/indexes/{index_id}/videos": {
            "get": {
                "summary": "Indexed videos of an index",
                "parameters": [_path_id("index_id", "An _id from GET /v1.2/indexes."), *_PAGING],
                "responses": _responses(_reply("A numbered page of videos", _list(_VIDEO), _RATE_HEADERS), *_V12),
            }
        },
        "/v1.2/thumbnails/{video_id}/{peak}.jpg": {
            "get": {
                "summary": "A clip's thumbnail (JPEG of its peak moment, as its thumbnail_url names it); the key may also "
                "come from the edge_api_key cookie the web page sets",
                "parameters": [
                    _path_id("video_id", "A video _id."),
                    {
                        **_path_id(
                            "peak",
                            "The peak time in seconds as thumbnail_url spells it (at most 2 "
                            "decimals, no trailing zeros); past the video's end is a 404.",
                        ),
                        "schema": {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]?[1-9])?$"},
                    },
                ],
                "responses": _responses(
                    {
                        "description": "JPEG",
                        "headers": _RATE_HEADERS,
                        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "401",
                    "404",
                    "429",
                    "500",
                ),
            }
        },
        "/v1.2/videos/{video_id}/file": {
            "get": {
                "summary": "The video file, from the library's folders only; HTTP Range requests get 206 (key also from "
                "the edge_api_key cookie)",
                "parameters": [_path_id("video_id", "A video _id.")],
                "responses": {
                    **_responses(_VIDEO_FILE, "401", "404", "429", "500"),
                    "206": {**_VIDEO_FILE, "description": "A byte range of the file"},
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Model bundle, number of videos, watched-folder queue (no key needed)",
                "security": [],
                "responses": _responses(_reply("Status", _HEALTH), "500"),
            }
        },
        "/": {
            "get": {
                "summary": "The web page: a classify form and its results (static files under /static)",
                "security": [],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document (no key needed)",
                "security": [],
                "responses": {"200": _reply("OpenAPI 3.1", {"type": "object"})},
            }
        },
    },
}
