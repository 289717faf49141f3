"""The v1.2 classify request: validation into a typed request, and the API's error body.

Every rule here comes from shared/classify-contract.md. Errors carry the contract's codes; the
message names the field, the limit and the actual value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.types import CONVERSATION_OPTIONS, SEMANTIC, SOURCES, Thresholds

OPTIONS = SOURCES
MAX_PROMPTS = 100
MAX_TOTAL_DURATION_S = 10 * 3600
DOCS_URL = "https://docs.twelvelabs.io/v1.2/reference/classify-videos"
# v1.1's named thresholds, mapped onto v1.2's numbers (accepted on input only)
LEGACY_THRESHOLDS = {"high": 85.0, "medium": 75.0, "low": 50.0, "none": 1.0}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "docs_url": DOCS_URL}


@dataclass(frozen=True)
class ClassSpec:
    name: str
    prompts: tuple[str, ...]
    options: tuple[str, ...]
    conversation_option: str


@dataclass(frozen=True)
class ClassifyRequest:
    classes: tuple[ClassSpec, ...]
    video_ids: tuple[str, ...] = ()
    index_id: str | None = None
    page_limit: int = 10
    include_clips: bool = False
    show_detailed_score: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)


def _invalid(name: str, why: str) -> ApiError:
    return ApiError("parameter_invalid", f"The {name} parameter is invalid: {why}.")


def _require(body: dict, name: str, where: str = ""):
    if body.get(name) is None:
        raise ApiError("parameter_not_provided", f"The {where}{name} parameter is required but was not provided.")
    return body[name]


def _number(value, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(name, f"expected a number, got {type(value).__name__}")
    if not low <= value <= high:
        raise _invalid(name, f"must be between {low:g} and {high:g}, got {value}")
    return float(value)


def _whole(value) -> int | None:
    """An integer, also when JSON spells it 5.0 (JSON Schema's integer, and what some clients send); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if float(value).is_integer() else None


def _bool(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(name, f"expected true or false, got {value!r}")
    return value


def _options(value, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _invalid(name, "expected a non-empty array of " + ", ".join(OPTIONS))
    for item in value:
        if item not in OPTIONS:
            raise _invalid(name, f"{item!r} is not one of " + ", ".join(OPTIONS))
    return tuple(dict.fromkeys(value))


def _conversation_option(value, name: str) -> str:
    if value not in CONVERSATION_OPTIONS:
        raise _invalid(name, f"{value!r} is not one of " + ", ".join(CONVERSATION_OPTIONS))
    return value


def _strings(value, name: str, minimum: int = 1) -> list[str]:
    if not isinstance(value, list) or len(value) < minimum:
        raise _invalid(name, f"expected an array of at least {minimum} string(s)")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise _invalid(name, f"every item must be a non-empty string, got {item!r}")
    return value


def _check_unknown(body: dict, allowed: set[str], where: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise ApiError("parameter_unknown", f"The {where}{key} parameter is not a known parameter.")


_REQUEST_FIELDS = {
    "options",
    "conversation_option",
    "classes",
    "page_limit",
    "include_clips",
    "threshold",
    "show_detailed_score",
}
_CLASS_FIELDS = {"name", "prompts", "options", "conversation_option"}
_THRESHOLD_FIELDS = {"min_video_score", "min_clip_score", "min_duration_ratio"}


def _classes(value, options, conversation_option, name="classes") -> tuple[ClassSpec, ...]:
    if not isinstance(value, list) or not value:
        raise _invalid(name, "expected an array of at least 1 class")
    classes, total_prompts = [], 0
    for i, item in enumerate(value):
        where = f"{name}[{i}]."
        if not isinstance(item, dict):
            raise _invalid(f"{name}[{i}]", "expected an object with name and prompts")
        _check_unknown(item, _CLASS_FIELDS, where)
        class_name = _require(item, "name", where)
        if not isinstance(class_name, str) or not class_name.strip():
            raise _invalid(where + "name", "expected a non-empty string")
        prompts = _strings(_require(item, "prompts", where), where + "prompts")
        if len(prompts) > MAX_PROMPTS:
            raise _invalid(where + "prompts", f"at most {MAX_PROMPTS} prompts per class, got {len(prompts)}")
        total_prompts += len(prompts)
        own_options = _options(item["options"], where + "options") if item.get("options") is not None else options
        own_conv = (
            _conversation_option(item["conversation_option"], where + "conversation_option")
            if item.get("conversation_option") is not None
            else conversation_option
        )
        classes.append(ClassSpec(class_name, tuple(prompts), own_options, own_conv))
    if total_prompts > MAX_PROMPTS:
        raise _invalid(
            "prompts", f"all prompts of a request together may number at most {MAX_PROMPTS}, got {total_prompts}"
        )
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise _invalid(name, "class names must be unique")
    return tuple(classes)


def _thresholds(value, bulk: bool) -> Thresholds:
    if value is None:
        return Thresholds()
    if bulk and _whole(value) is not None:
        return Thresholds(min_video_score=_number(_whole(value), "threshold", 0, 100))
    if isinstance(value, str):
        if value not in LEGACY_THRESHOLDS:
            raise _invalid("threshold", f"{value!r} is not one of " + ", ".join(LEGACY_THRESHOLDS))
        return Thresholds(min_video_score=LEGACY_THRESHOLDS[value])
    if not isinstance(value, dict):
        raise _invalid("threshold", "expected an object with min_video_score, min_clip_score, min_duration_ratio")
    _check_unknown(value, _THRESHOLD_FIELDS, "threshold.")
    defaults = Thresholds()

    def get(key, low, high):
        item = value.get(key)
        return getattr(defaults, key) if item is None else _number(item, f"threshold.{key}", low, high)

    return Thresholds(get("min_video_score", 1, 100), get("min_clip_score", 1, 100), get("min_duration_ratio", 0.01, 1))


def parse_request(body, bulk: bool = False) -> ClassifyRequest:
    if not isinstance(body, dict):
        raise _invalid("body", "expected a JSON object")
    body = dict(body)
    if not bulk and "video_id" in body and "video_ids" not in body:  # v1.1: one video_id
        body["video_ids"] = [body.pop("video_id")]
    legacy_labels = "labels" in body and "classes" not in body
    if legacy_labels:  # v1.1: labels[] had the shape of classes[]
        body["classes"] = body.pop("labels")
    id_field = "index_id" if bulk else "video_ids"
    _check_unknown(body, _REQUEST_FIELDS | {id_field})

    if bulk:
        index_id = _require(body, "index_id")
        if not isinstance(index_id, str) or not index_id:
            raise _invalid("index_id", "expected a non-empty string")
        video_ids: tuple[str, ...] = ()
    else:
        index_id = None
        video_ids = tuple(dict.fromkeys(_strings(_require(body, "video_ids"), "video_ids")))
    options = _options(_require(body, "options"), "options")
    conversation_option = _conversation_option(body.get("conversation_option") or SEMANTIC, "conversation_option")
    classes = _classes(
        _require(body, "classes"), options, conversation_option, "labels" if legacy_labels else "classes"
    )
    raw_limit = body.get("page_limit")
    page_limit = 10 if raw_limit is None else _whole(raw_limit)
    if page_limit is None or not 1 <= page_limit <= 50:
        raise _invalid("page_limit", f"must be an integer between 1 and 50, got {raw_limit!r}")
    return ClassifyRequest(
        classes=classes,
        video_ids=video_ids,
        index_id=index_id,
        page_limit=page_limit,
        include_clips=_bool(body, "include_clips"),
        show_detailed_score=_bool(body, "show_detailed_score"),
        thresholds=_thresholds(body.get("threshold"), bulk),
    )
