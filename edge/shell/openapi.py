"""The OpenAPI document of `edge serve` (GET /openapi.json)."""

from __future__ import annotations

from edge.types import CONVERSATION_OPTIONS, SOURCES


def _schema(ref: str) -> dict:
    return {"$ref": f"#/components/schemas/{ref}"}


def _json_reply(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {"400": _json_reply("Invalid request or page token", _schema("Error")),
           "401": _json_reply("Missing or invalid x-api-key", _schema("Error")),
           "404": _json_reply("Unknown video or index", _schema("Error"))}
_CLASSIFY_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["options", "classes"],
    "description": "See shared/classify-contract.md; /classify takes video_ids, /classify/bulk index_id.",
    "properties": {"video_ids": {"type": "array", "items": {"type": "string"}}, "index_id": {"type": "string"},
                   "options": {"type": "array", "items": {"enum": list(SOURCES)}},
                   "conversation_option": {"enum": list(CONVERSATION_OPTIONS)},
                   "classes": {"type": "array", "items": {"type": "object", "required": ["name", "prompts"]}},
                   "page_limit": {"type": "integer", "minimum": 1, "maximum": 50},
                   "include_clips": {"type": "boolean"}, "show_detailed_score": {"type": "boolean"},
                   "threshold": {"type": ["object", "integer"]}}}}}}
_PAGE = _json_reply("A page of classify results", {"type": "object", "required": ["data", "page_info"]})
_LIST = _json_reply("A numbered page", {"type": "object", "required": ["data", "page_info"]})
_PAGING = [{"name": n, "in": "query", "schema": {"type": "integer", "minimum": 1}} for n in ("page", "page_limit")]

OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "edge: Twelve Labs v1.2 classify API (offline appliance)", "version": "1.2"},
    "components": {
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        "schemas": {"Error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "docs_url": {"type": "string"}}}}},
    "security": [{"apiKey": []}],
    "paths": {
        "/v1.2/classify": {"post": {"summary": "Classify videos by id", "requestBody": _CLASSIFY_BODY,
                                    "responses": {"200": _PAGE, **_ERRORS}}},
        "/v1.2/classify/bulk": {"post": {"summary": "Classify every video of an index",
                                         "requestBody": _CLASSIFY_BODY, "responses": {"200": _PAGE, **_ERRORS}}},
        "/v1.2/classify/{page_token}": {"get": {
            "summary": "Another page of a classify result set (tokens expire)",
            "parameters": [{"name": "page_token", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _PAGE, **_ERRORS}}},
        "/v1.2/indexes": {"get": {"summary": "Indexes (folders given to `edge index`)", "parameters": _PAGING,
                                  "responses": {"200": _LIST, "401": _ERRORS["401"]}}},
        "/v1.2/indexes/{index_id}/videos": {"get": {
            "summary": "Indexed videos of an index",
            "parameters": [{"name": "index_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           *_PAGING],
            "responses": {"200": _LIST, **_ERRORS}}},
        "/v1.2/thumbnails/{video_id}/{peak}.jpg": {"get": {
            "summary": "A clip's thumbnail (JPEG of its peak moment, as its thumbnail_url names it)",
            "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                           for n in ("video_id", "peak")],
            "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}}, **_ERRORS}}},
        "/v1.2/videos/{video_id}/file": {"get": {
            "summary": "The video file (HTTP range requests), from the library's folders only",
            "parameters": [{"name": "video_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The file"}, "206": {"description": "A byte range"}, **_ERRORS}}},
        "/health": {"get": {"summary": "Model bundle, number of videos, watched-folder queue (no key needed)",
                            "security": [],
                            "responses": {"200": _json_reply("Status", {"type": "object"})}}},
    },
}
