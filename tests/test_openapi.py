"""The served OpenAPI document against a real `edge serve`: schemathesis generates requests from it and checks
every reply against it (no 5xx, bodies and headers as documented, only documented status codes).

The document is specialised to the sample's real video ids, index id and a live page token, so generated valid
requests reach scoring and paging instead of stopping at a 404.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import re
from collections import Counter
from contextlib import contextmanager

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from edge.shell.openapi import OPENAPI

EXAMPLES = {"POST /v1.2/classify": 50, "POST /v1.2/classify/bulk": 30}  # the rest: at most 20 each
CHECKS = [
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
    )
]


def _specialised(spec: dict, index_id: str, video_ids: list[str], page_token: str) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    schemas["ClassifyRequest"]["properties"]["video_ids"]["items"] = {"type": "string", "enum": video_ids}
    schemas["BulkRequest"]["properties"]["index_id"] = {"type": "string", "enum": [index_id]}
    real = {"index_id": [index_id], "page_token": [page_token], "video_id": video_ids}
    for item in spec["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in real:
                    parameter["schema"] = {"type": "string", "enum": real[parameter["name"]]}
    return spec


@contextmanager
def ieee_floats():
    """The default floating-point environment while hypothesis draws floats, then the previous one back.

    The onnxruntime sessions earlier tests ran in this process set flush-to-zero (edge/runtime.py asks for
    denormals as zero), and hypothesis refuses to draw floats when subnormals cannot be represented."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    saved = ctypes.create_string_buffer(64)  # >= sizeof(fenv_t) on x86-64 and aarch64
    libm.fegetenv(saved)
    libm.fesetenv(ctypes.c_void_p(-1))  # glibc's FE_DFL_ENV
    try:
        yield
    finally:
        libm.fesetenv(saved)


def test_the_document_is_what_the_server_serves(sample_server):
    assert httpx.get(f"{sample_server['base']}/openapi.json", timeout=10).json() == OPENAPI


def test_generated_requests_get_documented_replies(sample_server):
    base, headers = sample_server["base"], {"x-api-key": sample_server["key"]}
    video_ids = sorted(sample_server["videos"].values())
    first = httpx.post(
        f"{base}/v1.2/classify",
        headers=headers,
        timeout=60,
        json={
            "video_ids": video_ids,
            "options": ["visual"],
            "classes": [{"name": "any", "prompts": ["a photo"]}],
            "page_limit": 1,
            "threshold": {"min_video_score": 1, "min_clip_score": 1, "min_duration_ratio": 0.01},
        },
    )
    token = first.json()["page_info"]["next_page_token"]
    assert first.status_code == 200 and token, first.text
    spec = _specialised(
        httpx.get(f"{base}/openapi.json", timeout=10).json(), sample_server["index_id"], video_ids, token
    )
    statuses: dict[tuple[str, str], Counter] = {}
    rejected = Counter()
    for result in schemathesis.openapi.from_dict(spec).get_all_operations():
        operation = result.ok()
        # positive: requests the document calls valid; negative: ones it calls invalid (their errors documented too)
        definition = spec["paths"][operation.path][operation.method.lower()]
        negatable = "parameters" in definition or "requestBody" in definition
        for mode, share in ((GenerationMode.POSITIVE, 1.0), (GenerationMode.NEGATIVE, 0.5 if negatable else 0)):
            if not share:
                continue
            seen = statuses.setdefault((operation.label, mode.value), Counter())

            @settings(
                max_examples=max(1, int(share * EXAMPLES.get(operation.label, 20))),
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                response = case.call(base_url=base, headers=headers, timeout=60)
                seen[response.status_code] += 1
                if mode is GenerationMode.POSITIVE and response.status_code == 400:  # why a valid-looking body failed
                    rejected[re.sub(r"\d+", "N", response.json()["message"])[:80]] += 1
                case.validate_response(response, checks=CHECKS)

            with ieee_floats():
                call()
    print({" ".join(key): dict(counts) for key, counts in statuses.items()}, dict(rejected))
    # Generated valid bodies are mostly accepted: the rest break the limits the schema can only describe.
    for label in EXAMPLES:
        positive = statuses[label, GenerationMode.POSITIVE.value]
        assert positive[200] >= 0.5 * sum(positive.values()), positive
