"""Which file on disk stands for a video id when its pictures are served: for HTTP only files inside the
library's registered folders (the roots of its indexes), and only while they still hold the bytes indexed."""

from __future__ import annotations

import os
from pathlib import Path

from edge.contract import ApiError
from edge.store import Store


def _unchanged(path: str, size: int, mtime_ns: int) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns


def _not_found(video_id: str) -> ApiError:
    return ApiError("resource_not_exist", f"The video {video_id} does not exist.", 404)


def served_file(store: Store, video_id: str) -> tuple[Path, float]:
    """The file (resolved, inside a registered root) and duration of a video, for edge serve.

    A video indexed from a path outside every index's folders (`edge classify --video /some/file.mp4`) is
    refused: the server never hands out a file the operator did not put into the library. Links are resolved
    before the check, so a link inside a folder cannot lead out of it.
    """
    videos = store.videos([video_id])
    if not videos:
        raise _not_found(video_id)
    roots = [Path(root).resolve() for index in store.indexes() for root in index.roots]
    files = [
        Path(path).resolve() for path, size, mtime_ns in store.video_files(video_id) if _unchanged(path, size, mtime_ns)
    ]
    for path in files:
        if any(path.is_relative_to(root) for root in roots):
            return path, videos[0].duration
    if files:
        raise ApiError(
            "access_denied",
            f"The video {video_id} is not inside the folders of any index; edge serve "
            f"only serves files under them (index its folder with `edge index`).",
            403,
        )
    raise ApiError(
        "resource_not_exist",
        f"The file of video {video_id} is gone or has changed since it was indexed; index it again.",
        404,
    )


def local_file(store: Store, video_id: str) -> Path | None:
    """Any current file of a video, for the local CLI (its user owns the library), or None."""
    for path, size, mtime_ns in store.video_files(video_id):
        if _unchanged(path, size, mtime_ns):
            return Path(path)
    return None
