"""`edge` command line: thin shells over the library. JSON on stdout; progress and logs on stderr.

Exit codes: 0 success; 1 some inputs failed (the rest were processed); 2 bad request or usage;
3 models missing, corrupt or unusable.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import click

from edge.contract import ApiError, parse_request
from edge.settings import SettingsError, load_settings
from edge.types import CONVERSATION, CONVERSATION_OPTIONS, SEMANTIC, SOURCES, TEXT_IN_VIDEO, VISUAL

EXIT_PARTIAL, EXIT_BAD_REQUEST, EXIT_MODELS = 1, 2, 3


def _emit(payload) -> None:
    click.echo(json.dumps(payload, indent=2))


def _fail(message: str, code: int) -> None:
    click.echo(f"edge: error: {message}", err=True)
    sys.exit(code)


class _Context:
    """The appliance for one command; a model that cannot load ends the command with exit code 3."""

    def __init__(self, settings):
        from edge.appliance import Edge

        self.edge = Edge(settings)
        self.settings = settings

    @property
    def store(self):
        return self.edge.store

    def _models(self, get):
        from edge.appliance import ModelsUnavailable

        try:
            return get()
        except ModelsUnavailable as exc:
            _fail(str(exc), EXIT_MODELS)

    @property
    def bundle(self):
        return self._models(lambda: self.edge.bundle)

    @property
    def classifier(self):
        return self._models(lambda: self.edge.classifier)

    def indexer(self, preload: bool = True, bar=None):
        """An Indexer for the configured sources. With `preload` their models load now: a missing model is
        one clear error here, not a failure per file later (skipped where files are likely indexed already).
        `bar` (an edge.progress.IndexBar) replaces the per-file log lines on a terminal."""
        if preload:
            self._models(self.edge.load)
        return self._models(lambda: self.edge.indexer(progress=bar.line if bar else None, meter=bar))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging on stderr.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Offline video classification, speaking the Twelve Labs v1.2 classify API.

    \b
    Typical session:
      edge models install              # once: fetch, verify and convert the model files
      edge index ~/videos              # register and index every video under the folder
      edge videos                      # list video ids
      edge classify --video ~/videos/a.mp4 --class 'cat: a cat; kitten' --include-clips
      edge page <next_page_token>      # further pages of a result set

    Environment: EDGE_HOME (store), EDGE_MODELS_DIR (model store), EDGE_PROVIDER (tensorrt|cuda|cpu),
    EDGE_SAMPLE_FPS (visual samples per second, default 1), EDGE_PAGE_TTL (page token lifetime, s),
    EDGE_VISUAL_BUNDLE (path of a CLIP/SigLIP bundle instead of the built-in one), EDGE_SOURCES (what
    indexing extracts; default visual,text_in_video,conversation), EDGE_SPEECH_THREADS (whisper.cpp threads),
    EDGE_ACTION_EVERY (seconds between action windows in the visual index, default 4; 0 = off).

    Results are JSON on stdout; progress and logs on stderr. Exit codes: 0 success, 1 some inputs failed
    (the rest were processed), 2 bad request (stdout holds the API's error body), 3 models missing or corrupt.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(str(exc), EXIT_BAD_REQUEST)
    ctx.obj = _Context(settings)


@main.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Name of the index (for /classify/bulk) a folder joins; default: the folder's name.")
@click.option(
    "--cluster",
    metavar="ADDRESS",
    help="Extract on a Ray cluster: auto (the one running on this machine), "
    "ray://HOST:PORT or HOST:PORT; needs pip install 'edge[cluster]'.",
)
@click.option("--workers", type=click.IntRange(1), help="Ray workers (default: one per GPU, else one per 2 CPUs).")
@click.option(
    "--attempts",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Tries per file when Ray workers die on it.",
)
@click.option(
    "--worker-models",
    metavar="DIR",
    help="The model store's path on the Ray workers (a shared or imported "
    "copy; default: their EDGE_MODELS_DIR); verified against this machine's.",
)
@click.pass_obj
def index_cmd(
    obj: _Context,
    paths: tuple[Path, ...],
    name: str | None,
    cluster: str | None,
    workers: int | None,
    attempts: int,
    worker_models: str | None,
) -> None:
    """Register and index every video in PATHS (files, or folders searched recursively).

    Unchanged files are skipped, changed files re-indexed. A broken file is reported and the rest go on;
    the exit code is then 1. Each folder joins an index (--name) that /classify/bulk can target.
    With --cluster the files are extracted on Ray workers and written into this machine's store.
    """
    indexes = {}
    for path in paths:
        if path.is_dir():
            resolved = path.resolve()
            index_name = name or resolved.name
            indexes[index_name] = obj.store.ensure_index(index_name, str(resolved))
    from edge.progress import IndexBar, bar_logging, on_terminal

    if cluster:
        report = _index_on_cluster(
            obj, list(paths), cluster, workers=workers, attempts=attempts, worker_models=worker_models
        )
    elif on_terminal():
        bar = IndexBar()
        with bar_logging():
            try:
                report = obj.indexer(bar=bar).index(list(paths))
            finally:
                bar.close()
    else:
        report = obj.indexer().index(list(paths))
    _emit({**asdict(report), "indexes": [{"name": n, "index_id": i} for n, i in indexes.items()]})
    if report.failed:
        sys.exit(EXIT_PARTIAL)


def _index_on_cluster(obj: _Context, paths: list[Path], address: str, **options):
    from edge.hashing import IntegrityError

    try:
        from edge.cluster import ClusterError, WorkersRefused, index_on_cluster
    except ImportError as exc:
        _fail(f"--cluster needs Ray: pip install 'edge[cluster]' ({exc})", EXIT_BAD_REQUEST)
    try:
        return index_on_cluster(obj.store, obj.settings, paths, address, **options)
    except (WorkersRefused, IntegrityError) as exc:
        _fail(str(exc), EXIT_MODELS)
    except ClusterError as exc:
        _fail(str(exc), EXIT_BAD_REQUEST)


@main.command("videos")
@click.option("--index-id", help="Only the videos of this index.")
@click.pass_obj
def videos_cmd(obj: _Context, index_id: str | None) -> None:
    """List registered videos with their ids and what they are indexed for (sources, spoken language), and the
    indexes they belong to."""
    roots = None
    if index_id:
        roots = obj.store.index_roots(index_id)
        if roots is None:
            _fail(f"no index {index_id}", EXIT_BAD_REQUEST)
    _emit(
        {
            "videos": [
                {
                    "video_id": v.video_id,
                    "filename": v.filename,
                    "path": v.path,
                    **asdict(v.info),
                    "duration": round(v.duration, 3),
                    "evidence": obj.store.evidence(v.video_id),
                }
                for v in obj.store.videos(roots=roots)
            ],
            "indexes": [{"index_id": x.index_id, "name": x.name, "roots": x.roots} for x in obj.store.indexes()],
            "failed": [{"path": p, "error": e} for p, e in obj.store.failed_files()],
        }
    )


def _parse_class(text: str) -> dict:
    name, sep, prompts = text.partition(":")
    if not sep or not name.strip():
        raise click.BadParameter(f"expected 'name: prompt; prompt', got {text!r}", param_hint="--class")
    return {"name": name.strip(), "prompts": [p.strip() for p in prompts.split(";") if p.strip()]}


@main.command("classify")
@click.option("--request", "request_file", type=click.File("r"), help="A full v1.2 request body (JSON; - for stdin).")
@click.option("--video", "videos", multiple=True, help="A video id or a video file (indexed first if needed).")
@click.option("--index-id", help="Classify every video of an index (like POST /classify/bulk).")
@click.option("--class", "classes", multiple=True, metavar="'NAME: PROMPT; PROMPT'", help="A class and its prompts.")
@click.option(
    "--options", default=VISUAL, show_default=True, help=f"Comma-separated evidence sources: {', '.join(SOURCES)}."
)
@click.option("--conversation-option", type=click.Choice(CONVERSATION_OPTIONS), default=SEMANTIC, show_default=True)
@click.option("--include-clips", is_flag=True, help="List the matching clips of each class.")
@click.option("--show-detailed-score", is_flag=True, help="Add max, average and normalized scores.")
@click.option("--min-video-score", type=float, help="Keep a class when its score >= this (1-100; default 75).")
@click.option("--min-clip-score", type=float, help="Keep a clip when its score >= this (1-100; default 30).")
@click.option(
    "--min-duration-ratio", type=float, help="Keep a class covering >= this share of the video (default 0.5)."
)
@click.option("--page-limit", type=int, help="Videos per page (1-50; default 10).")
@click.option(
    "--thumbnails",
    "thumbnail_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each clip's thumbnail (JPEG of its peak moment) under DIR and give its file:// URL.",
)
@click.pass_obj
def classify_cmd(
    obj: _Context,
    request_file,
    videos,
    index_id,
    classes,
    options,
    conversation_option,
    include_clips,
    show_detailed_score,
    min_video_score,
    min_clip_score,
    min_duration_ratio,
    page_limit,
    thumbnail_dir,
) -> None:
    """Classify videos against classes of prompts; prints the first page of a v1.2 classify response.

    Either --request FILE with a complete body, or --video/--index-id with --class options.
    """
    if request_file:
        try:
            body = json.load(request_file)
        except json.JSONDecodeError as exc:
            error = ApiError("parameter_invalid", f"The request body is not valid JSON: {exc}.")
            _emit(error.body())
            _fail(error.message, EXIT_BAD_REQUEST)
        bulk = isinstance(body, dict) and "index_id" in body
    else:
        threshold = {
            k: v
            for k, v in (
                ("min_video_score", min_video_score),
                ("min_clip_score", min_clip_score),
                ("min_duration_ratio", min_duration_ratio),
            )
            if v is not None
        }
        body = {
            "options": [o.strip() for o in options.split(",") if o.strip()],
            "conversation_option": conversation_option,
            "classes": [_parse_class(c) for c in classes],
            "include_clips": include_clips,
            "show_detailed_score": show_detailed_score,
        }
        if threshold:
            body["threshold"] = threshold
        if page_limit is not None:
            body["page_limit"] = page_limit
        bulk = index_id is not None
        if bulk:
            body["index_id"] = index_id
        else:
            body["video_ids"] = [_video_id(obj, v) for v in videos]
    try:
        request = parse_request(body, bulk=bulk)
        _emit(obj.classifier.classify(request, _thumbnail_link(obj, thumbnail_dir)))
    except ApiError as exc:
        _emit(exc.body())
        _fail(exc.message, EXIT_BAD_REQUEST)


def _thumbnail_link(obj: _Context, folder: Path | None):
    if folder is None:
        return None
    from edge.media import local_file
    from edge.thumbnails import folder_link

    return folder_link(folder, lambda video_id: local_file(obj.store, video_id))


def _video_id(obj: _Context, video: str) -> str:
    """A video id as given, or the id of a file (indexed now if it is not yet)."""
    path = Path(video)
    if not path.is_file():
        return video
    report = obj.indexer(preload=False).index([path])
    if report.failed:
        _fail(f"{video}: {report.failed[0]['error']}", EXIT_BAD_REQUEST)
    return (report.indexed or report.unchanged)[0]["video_id"]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{seconds % 60:04.1f}"


@main.command("transcript")
@click.argument("video")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option(
    "--source",
    type=click.Choice([CONVERSATION, TEXT_IN_VIDEO]),
    default=CONVERSATION,
    show_default=True,
    help="What was said, or the text shown on screen.",
)
@click.pass_obj
def transcript_cmd(obj: _Context, video: str, fmt: str, source: str) -> None:
    """Print what a video says (its timed transcript) or shows as text. VIDEO: an id or a file (indexed first)."""
    video_id = _video_id(obj, video)
    key = obj.edge.text.key(source)
    timed = obj.store.timed_text(video_id, source, key)
    if timed is None:
        _fail(
            f"video {video_id} is not indexed for {source} with the current models; run `edge index` on it "
            f"(EDGE_SOURCES must include {source})",
            EXIT_BAD_REQUEST,
        )
    if source == CONVERSATION:
        windows = obj.store.segments(video_id, source, key)  # the sentences semantic matching sees
        lines = [
            {"start": round(float(a), 3), "end": round(float(b), 3), "text": text}
            for a, b, text in zip(windows.starts, windows.ends, windows.texts or [])
        ]
        payload = {"video_id": video_id, "language": timed.language, "sentences": lines, "words": timed.items}
    else:
        lines = timed.items
        payload = {"video_id": video_id, "spans": lines}
    if fmt == "json":
        _emit(payload)
    else:
        for line in lines:
            click.echo(f"[{_clock(line['start'])} - {_clock(line['end'])}] {line['text']}")


@main.command("page")
@click.argument("token")
@click.option(
    "--thumbnails",
    "thumbnail_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write each clip's thumbnail under DIR and give its file:// URL.",
)
@click.pass_obj
def page_cmd(obj: _Context, token: str, thumbnail_dir: Path | None) -> None:
    """Print the page of an earlier classify result that TOKEN names (tokens expire; see EDGE_PAGE_TTL)."""
    from edge.classify import read_page

    try:
        _emit(read_page(obj.store, token, _thumbnail_link(obj, thumbnail_dir)))
    except ApiError as exc:
        _emit(exc.body())
        _fail(exc.message, EXIT_BAD_REQUEST)


_CONFIG_KEYS = {
    "host": "host",
    "port": "port",
    "api_key": "api_keys",
    "watch": "watches",
    "poll_interval": "poll_interval",
    "settle": "settle",
    "ready_timeout": "ready_timeout",
}


def _load_config(ctx: click.Context, _param, path: str | None) -> None:
    """A TOML file whose keys are serve's options (scripts/edge.toml); options given on the command line win."""
    if not path:
        return
    import tomllib

    try:
        config = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--config") from None
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if unknown:
        raise click.BadParameter(
            f"{path}: unknown keys {', '.join(unknown)}; known: {', '.join(_CONFIG_KEYS)}", param_hint="--config"
        )
    ctx.default_map = {_CONFIG_KEYS[key]: value for key, value in config.items()}


@main.command("serve")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_load_config,
    help="TOML file with any of the options below (see scripts/edge.toml).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--api-key", "api_keys", multiple=True, help="An accepted x-api-key (repeatable; also EDGE_API_KEYS).")
@click.option(
    "--watch",
    "watches",
    multiple=True,
    metavar="NAME=FOLDER",
    help="Index FOLDER as index NAME and keep it indexed in the background (repeatable).",
)
@click.option(
    "--poll-interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between scans of the watched folders.",
)
@click.option(
    "--settle",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a file's size and mtime must stay unchanged before it is indexed (copies in progress).",
)
@click.option(
    "--ready-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a classify request for an unknown video waits while the watched folders are indexed.",
)
@click.pass_obj
def serve_cmd(
    obj: _Context,
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    watches: tuple[str, ...],
    poll_interval: float,
    settle: float,
    ready_timeout: float,
) -> None:
    """Serve the v1.2 classify API over HTTP (see README, HTTP). Without keys, only on a loopback address.

    Each --watch folder is scanned at start-up and then polled: new and changed videos are queued (durably, in
    the store) and indexed by a background worker; deleted ones leave the index. GET /health shows the queue.

    Environment: EDGE_API_KEYS (comma-separated keys), EDGE_RATE_LIMIT (requests per minute and key; when set,
    more get HTTP 429; otherwise the X-Ratelimit-* headers report usage against 600 without enforcing it),
    EDGE_RATE_WINDOW (the seconds those requests are counted in, 60).
    """
    import uvicorn

    from edge.shell.server import ServeOptions, check_exposure, create_app

    keys = (*api_keys, *obj.settings.api_keys)
    try:
        check_exposure(host, keys)
    except ValueError as exc:
        _fail(str(exc), EXIT_BAD_REQUEST)
    folders = {}
    for watch in watches:
        name, sep, folder = watch.partition("=")
        if not sep or not name.strip() or not Path(folder).expanduser().is_dir():
            _fail(f"--watch expects NAME=FOLDER with an existing folder, got {watch!r}", EXIT_BAD_REQUEST)
        folders[name.strip()] = Path(folder)
    watcher = None
    if folders:
        from edge.watch import Watcher

        obj.indexer()  # loads the models of every source now: a missing one fails here, clearly
        watcher = Watcher(obj.edge, folders, poll_interval, settle)
    _ = obj.classifier  # the models load at start-up, not on the first request
    options = ServeOptions(
        api_keys=keys,
        rate_limit=obj.settings.rate_limit,
        rate_window_s=obj.settings.rate_window_s,
        watcher=watcher,
        ready_timeout_s=ready_timeout,
    )
    uvicorn.run(create_app(obj.edge, options), host=host, port=port, log_level="info")


def _register_models_group() -> None:
    from edge.shell.cli_models import models
    from edge.shell.cli_report import report

    main.add_command(models)
    main.add_command(report)


_register_models_group()
