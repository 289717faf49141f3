"""A CLIP-family bundle plugs into indexing and scoring unchanged: the tiny colour bundle, end to end via the CLI."""

import numpy as np
from conftest import run_edge


def test_dual_bundle_through_index_and_classify(tmp_path, edge_home, models_dir):
    from make_sample import write_video
    from tiny_dual import build_tiny_dual_bundle

    bundle = build_tiny_dual_bundle(tmp_path / "bundle")
    red, blue = np.zeros((360, 640, 3), np.uint8), np.zeros((360, 640, 3), np.uint8)
    red[..., 0], blue[..., 2] = 220, 220
    video = tmp_path / "colours.mp4"
    write_video(video, [(red, 4.0), (blue, 4.0)], size=(640, 360))
    env = {"EDGE_VISUAL_BUNDLE": str(bundle)}

    code, report, err = run_edge("index", str(video), env=env)
    assert code == 0, err
    video_id = report["indexed"][0]["video_id"]
    code, result, err = run_edge(
        "classify",
        "--video",
        video_id,
        "--class",
        "red: red",
        "--class",
        "blue: blue",
        "--class",
        "green: green",
        "--include-clips",
        "--min-duration-ratio",
        "0.3",
        env=env,
    )
    assert code == 0, err
    classes = {c["name"]: c for c in result["data"][0]["classes"]}
    assert set(classes) == {"red", "blue"}
    assert [(c["start"], c["end"]) for c in classes["red"]["clips"]] == [(0.0, 4.0)]
    assert [(c["start"], c["end"]) for c in classes["blue"]["clips"]] == [(4.0, 8.0)]

    # vectors are stored per bundle: the built-in bundle has not indexed this video
    code, body, _ = run_edge("classify", "--video", video_id, "--class", "red: red")
    assert code == 2 and "not indexed" in body["message"]
