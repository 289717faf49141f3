"""`edge report`: classify results as one self-contained HTML file (the page's view, thumbnails embedded)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge.contract import ApiError, parse_request

EXIT_BAD_REQUEST = 2


def _bad(message: str, body: dict | None = None) -> None:
    if body:
        click.echo(json.dumps(body, indent=2))
    click.echo(f"edge: error: {message}", err=True)
    sys.exit(EXIT_BAD_REQUEST)


@click.command("report")
@click.argument("source", type=click.File("r"), default="-")
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The HTML file to write."
)
@click.option("--title", default="edge report", show_default=True)
@click.pass_obj
def report(obj, source, out: Path, title: str) -> None:
    """Write classify results as one HTML file that opens anywhere, with no server and no network: a row per
    video, a timeline per class, the clips' pictures embedded.

    SOURCE (default: stdin) is a classify response as `edge classify` or the API gives it, or a request body,
    which is run here (with include_clips; every page). Pictures are taken from the videos' files in the local
    library, at each clip's peak (named by its thumbnail_url) or its middle.
    """
    from edge.webview import embed_pictures, local_thumbnails, report_html, report_view

    try:
        body = json.load(source)
    except json.JSONDecodeError as exc:
        _bad(f"{source.name}: not JSON: {exc}")
    if not isinstance(body, dict) or not ({"data", "classes"} & set(body)):
        _bad(f"{source.name}: expected a classify response (with data) or a request body (with classes)")
    embed = local_thumbnails(obj.store)
    if "classes" in body:
        try:
            request = parse_request({**body, "include_clips": True}, bulk="index_id" in body)
            classifier = obj.classifier
            page = classifier.classify(request, embed)
            data = list(page["data"])
            while page["page_info"]["next_page_token"]:
                page = classifier.page(page["page_info"]["next_page_token"], embed)
                data += page["data"]
        except ApiError as exc:
            _bad(exc.message, exc.body())
        total = len(data)
    else:
        data = body["data"]
        total = body.get("page_info", {}).get("total_results", len(data))
        embed_pictures(data, embed)
    view = report_view(obj.store, data, total)
    out.write_text(report_html(view, title))
    clips = [c for v in data for entry in v["classes"] for c in entry.get("clips", [])]
    click.echo(
        json.dumps(
            {
                "report": str(out),
                "videos": len(data),
                "clips": len(clips),
                "thumbnails": sum(1 for c in clips if c.get("thumbnail_url")),
            },
            indent=2,
        )
    )
