"""GPU code paths on a machine without one: each is chosen off with a one-line reason, and the CPU path runs.

The sessions are real onnxruntime sessions (a two-node model made here); what cannot exist on this machine
is a GPU provider that loads, so the tests present onnxruntime's provider list as a GPU build's would be.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import run_edge
from onnx import TensorProto, helper

from edge import runtime, streams
from edge.bundles import CLASSIFIER, CLASSIFIER_COPIES, DETECTOR, DETECTOR_COPIES, frame_model_file
from edge.decode import CpuDecoder, DecoderUnavailable, choose_decoder
from edge.modelfiles import file_entry, model_path
from edge.probe import probe_mismatch
from edge.runtime import ProviderError, open_session, opened_providers, provider_options, session_stream, stage
from edge.settings import load_settings

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def tiny_model(tmp_path):
    """y = x + 1 over float32 [n, 3], stored as a store model would be (folder/model.onnx)."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])],
    )
    path = tmp_path / "tiny-model" / "model.onnx"
    path.parent.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def _pretend_gpu_build(monkeypatch):
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_BUILD))


def test_cpu_build_opens_on_cpu_and_records_it(tiny_model):
    session = open_session(tiny_model)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.run(None, {"x": np.zeros((2, 3), np.float32)})[0].tolist() == [[1.0] * 3] * 2
    assert opened_providers()["tiny-model/model.onnx"] == ["CPUExecutionProvider"]


def test_gpu_providers_that_cannot_load_fall_back_to_cpu_with_a_reason(tiny_model, monkeypatch, caplog, edge_home):
    _pretend_gpu_build(monkeypatch)
    assert runtime.choose_providers() == GPU_BUILD
    with caplog.at_level(logging.INFO, logger="edge.runtime"):
        session = open_session(tiny_model)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.run(None, {"x": np.ones((1, 3), np.float32)})[0].tolist() == [[2.0] * 3]
    lines = [r.getMessage() for r in caplog.records if "event=provider_fallback" in r.getMessage()]
    assert lines and all("\n" not in line for line in lines)
    assert "provider=TensorrtExecutionProvider" in lines[0] and "model=tiny-model/model.onnx" in lines[0]
    assert opened_providers()["tiny-model/model.onnx"] == ["CPUExecutionProvider"]


def test_a_forced_gpu_provider_that_does_not_load_is_a_clear_error(tiny_model, monkeypatch, edge_home):
    _pretend_gpu_build(monkeypatch)
    with pytest.raises(ProviderError, match=r"'cuda' \(EDGE_PROVIDER\) did not load for tiny-model/model.onnx"):
        open_session(tiny_model, "cuda")


def test_a_forced_provider_missing_from_the_build_is_refused_before_loading(tiny_model):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ProviderError, match="'cuda' is not available in this onnxruntime build"):
        open_session(tiny_model, "cuda")


def test_tensorrt_options_cache_engines_and_take_the_int8_table(tiny_model, tmp_path, monkeypatch, edge_home):
    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGE_CACHE_DIR", str(cache))
    options = provider_options("TensorrtExecutionProvider", tiny_model)
    assert options["trt_engine_cache_enable"] == "True" and options["trt_engine_cache_path"] == str(cache / "tensorrt")
    assert options["trt_fp16_enable"] == "True" and "trt_int8_enable" not in options
    tables = tmp_path / "int8"
    tables.mkdir()
    (tables / "tiny-model.flatbuffers").write_bytes(b"table")
    monkeypatch.setattr(runtime, "INT8_TABLES", tables)
    monkeypatch.setenv("EDGE_TRT_PRECISION", "int8")
    options = provider_options("TensorrtExecutionProvider", tiny_model)
    assert options["trt_int8_enable"] == "True" and options["trt_int8_use_native_calibration_table"] == "False"
    assert (cache / "tensorrt" / options["trt_int8_calibration_table_name"]).read_bytes() == b"table"
    assert provider_options("CUDAExecutionProvider", tiny_model) == {"device_id": "0"}
    assert provider_options("CPUExecutionProvider", tiny_model) == {}


class _StageStream:
    """What edge.runtime reads of a torch.cuda.Stream: its cudaStream_t address (no torch with CUDA here)."""

    cuda_stream = 0x7F3A00001234


def test_gpu_provider_options_carry_the_stage_stream_and_cpu_ones_none(tiny_model, edge_home):
    stream = _StageStream()
    handle = str(0x7F3A00001234)
    for name in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        options = provider_options(name, tiny_model, stream)
        assert options["user_compute_stream"] == handle and options["has_user_compute_stream"] == "1"
        assert "user_compute_stream" not in provider_options(name, tiny_model)
    assert provider_options("TensorrtExecutionProvider", tiny_model, stream)["trt_engine_cache_enable"] == "True"
    assert provider_options("CPUExecutionProvider", tiny_model, stream) == {}


def test_cpu_sessions_never_look_for_a_stream(tiny_model):
    streams._torch_cuda.cache_clear()
    session = open_session(tiny_model, "cpu")  # a CPU session in any onnxruntime build
    assert session_stream(session) is None
    with stage(session):  # a no-op on the CPU
        assert session.run(None, {"x": np.zeros((1, 3), np.float32)})[0].tolist() == [[1.0] * 3]
    assert streams._torch_cuda.cache_info().misses == 0  # torch was never imported for it


def test_without_torch_gpu_sessions_get_no_stream_and_one_line_says_why(
    tiny_model, monkeypatch, caplog, edge_home, capsys
):
    _pretend_gpu_build(monkeypatch)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    streams._torch_cuda.cache_clear()
    with caplog.at_level(logging.INFO):
        first, second = open_session(tiny_model), open_session(tiny_model, stage="ocr")
    assert session_stream(first) is None and session_stream(second) is None
    assert streams.stage_stream("decode") is None
    reasons = [r.getMessage() for r in caplog.records if "event=stage_streams_off" in r.getMessage()]
    assert reasons == [
        'event=stage_streams_off reason="torch is not installed: GPU sessions run on onnxruntime\'s own stream"'
    ]
    assert capsys.readouterr().out == ""  # stdout carries the CLI's JSON: onnxruntime's own retry banner is off
    streams._torch_cuda.cache_clear()


class _FrameOffHost:
    """Stands in for edge.nvdec.DeviceFrame (no GPU here): an array only through np.asarray, like a GPU frame."""

    def __init__(self, array: np.ndarray):
        self._array = array

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self._array


def test_action_windows_take_frames_left_in_gpu_memory(models_dir, edge_home):
    from edge.actions import WINDOW_FPS, WINDOW_FRAMES
    from edge.appliance import Edge
    from edge.sampling import VisualSampler

    encoder = Edge().bundle.image_encoder
    assert encoder.actions is not None  # the shipped default: action windows on
    encoder.__dict__["device_frames"] = True  # what it says when both frame models opened on a GPU
    sampler = VisualSampler(encoder)
    frame = np.random.default_rng(0).integers(0, 256, (180, 320, 3), np.uint8)
    for i in range(WINDOW_FRAMES):
        sampler.feed_dense(i / WINDOW_FPS, _FrameOffHost(frame))
    assert [w.start for w in sampler.actions.windows] == [0.0]  # a still window, measured on the host


def test_without_nvdec_the_cpu_decoder_is_chosen_with_the_reason(caplog):
    choose_decoder.cache_clear()
    with caplog.at_level(logging.INFO, logger="edge.decode"):
        decoder = choose_decoder("auto")
    assert isinstance(decoder, CpuDecoder)
    reason = [r.getMessage() for r in caplog.records if "event=decoder name=cpu" in r.getMessage()]
    assert len(reason) == 1 and "PyNvVideoCodec" in reason[0]
    assert isinstance(choose_decoder("cpu"), CpuDecoder)


def test_forcing_nvdec_without_it_is_a_clear_error():
    choose_decoder.cache_clear()
    with pytest.raises(DecoderUnavailable, match="EDGE_DECODER=nvdec, but NVDEC cannot be used: PyNvVideoCodec"):
        choose_decoder("nvdec")
    with pytest.raises(ValueError, match="unknown decoder 'vaapi'"):
        choose_decoder("vaapi")


def test_models_list_shows_the_providers_each_model_got(models_dir, edge_home):
    code, rows, err = run_edge("models", "list", "--providers")
    assert code == 0, err
    got = {r["name"]: r["providers"] for r in rows}
    # on the CPU the frame models run as their CPU copies (edge.install.quantize) where this CPU reproduces them
    settings = load_settings()
    for model, copies in [(CLASSIFIER, CLASSIFIER_COPIES), (DETECTOR, DETECTOR_COPIES)]:
        assert got[model] == {f"{model}/{frame_model_file(settings, model, copies)}": ["CPUExecutionProvider"]}
    assert got["ocr-ppocrv6"]["ocr-ppocrv6/det.onnx"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    "name,value", [("EDGE_DECODER", "vaapi"), ("EDGE_TRT_PRECISION", "int4"), ("EDGE_GPU_DEVICE", "-1")]
)
def test_bad_gpu_settings_fail_at_start_up_naming_the_variable(monkeypatch, name, value):
    from edge.settings import SettingsError

    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_the_cpu_runs_the_frame_models_cpu_copies_where_it_reproduces_them_and_a_gpu_the_converted_ones(
    monkeypatch, tmp_path
):
    import dataclasses

    settings = dataclasses.replace(load_settings(), cache_dir=tmp_path)
    cpu_build = {}
    for model, copies in [(CLASSIFIER, CLASSIFIER_COPIES), (DETECTOR, DETECTOR_COPIES)]:
        # The first copy whose vetted outputs this CPU's integer kernels give (AVX2 without VNNI: not model.int8.onnx)
        reproduced = [
            name
            for name in copies
            if probe_mismatch(model_path(settings.models_dir, model, name), file_entry(model, name)["derive"]["probe"])
            is None
        ]
        cpu_build[model] = frame_model_file(settings, model, copies)
        assert cpu_build[model] == (reproduced + ["model.onnx"])[0]
    assert "model.onnx" not in cpu_build.values()  # one of each model's copies runs on any x86 CPU
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_BUILD))
    assert frame_model_file(settings, DETECTOR, DETECTOR_COPIES) == "model.onnx"  # TensorRT quantizes the float one
    cpu_on_gpu_build = dataclasses.replace(settings, provider="cpu")  # EDGE_PROVIDER=cpu on a GPU build
    assert frame_model_file(cpu_on_gpu_build, DETECTOR, DETECTOR_COPIES) == cpu_build[DETECTOR]
