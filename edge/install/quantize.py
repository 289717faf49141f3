"""CPU copies of the frame models, made at install time from a file already in the store.

INT8 detector: the SSD detector ships as float32 (tf2onnx of the TensorFlow model zoo graph) and was the dearest model per
frame on the CPU: 47 ms on one core against 12 ms for the same network in INT8 (static QDQ, per-channel
weights, uint8 activations; onnxruntime runs it with VNNI where the CPU has it). The activation ranges come
from onnxruntime.quantization's MinMax calibrator over the frames in edge/data/int8/frames (package media,
prepared exactly as edge.conse feeds the detector), so the file is made the same way on every machine. Its
input, the tf2onnx output, is not byte-reproducible, so neither is this file: like that one it is pinned at
install time in the store's lock, after it reproduced the vetted outputs on the probe input.

Unsigned classifier: EfficientNet-Lite3 comes quantized (QDQ) with int8 activations. onnxruntime's x86 kernels
want uint8 activations, and where its own int8 -> uint8 rewrite left an int8 input beside a uint8 output (23 of
73 convolutions) the convolution stayed float between a DequantizeLinear and a QuantizeLinear: 26 ms a view on
one core. The same network with every activation's zero point moved by 128 into uint8 (q + 128 with z + 128:
the same real values) fuses all of them: 14 ms, top-1 unchanged on the calibration frames.

Unsigned weights: on x86 without VNNI (AVX2 only) onnxruntime's uint8 x int8 kernels add pairs of products into
16 bits, which saturate, and the INT8 detector then keeps 35 of the float one's 61 sure detections. The same file
with its int8 weights moved into uint8 (q + 128 with z + 128) runs onnxruntime's uint8 x uint8 kernels, which
widen first: the vetted outputs exactly, 37 ms a frame there against 50 ms for the float detector (the uint8
classifier: its vetted outputs, 48 ms a view against 34 ms saturated). edge.bundles takes these twins only where
the copies' own kernels fail their probe (edge.probe).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import numpy_helper

from edge.modelfiles import DATA_DIR

CALIBRATION_FRAMES = DATA_DIR / "int8" / "frames"


def calibration_frames() -> list:
    """The calibration pictures as RGB uint8 arrays, in name order."""
    paths = sorted(CALIBRATION_FRAMES.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no calibration frames in {CALIBRATION_FRAMES}")
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def ssd_int8(source: Path, out: Path) -> Path:
    """The SSD detector `source` (float32 ONNX) -> `out`, statically quantized to INT8 (QDQ)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edge.conse import DETECTOR_INPUT, detector_input

    class Frames(CalibrationDataReader):
        def __init__(self):
            self._batches = iter([{DETECTOR_INPUT: detector_input([f])} for f in calibration_frames()])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        # Folded constants and inferred shapes first, as onnxruntime's quantization guide asks.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            Frames(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,  # per-tensor weights: 102 of 247 detections kept, per-channel 212 (fit-part frames)
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return out


def unsigned_activations(source: Path, out: Path) -> Path:
    """A QDQ model `source` -> `out` with each int8 activation (a QuantizeLinear output read only by
    DequantizeLinear nodes) made uint8: zero point + 128. Weights, graph inputs and outputs keep their types."""
    model = onnx.load(str(source))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    ends = {t.name for t in graph.input} | {t.name for t in graph.output}
    moved: dict[str, str] = {}  # int8 zero point -> its uint8 twin
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or node.output[0] in ends:
            continue
        zero = initializers.get(node.input[2])
        users = readers.get(node.output[0], [])
        if (
            zero is None
            or zero.data_type != onnx.TensorProto.INT8
            or any(u.op_type != "DequantizeLinear" for u in users)
        ):
            continue
        twin = _uint8_twin(graph, initializers, moved, zero.name)
        for reader in [node, *users]:
            reader.input[2] = twin
    return _save_without_unread(model, initializers, moved, out)


def unsigned_weights(source: Path, out: Path) -> Path:
    """A QDQ model `source` -> `out` with each int8 weight (an initializer read by a DequantizeLinear) made uint8:
    values and zero points + 128, the same real values."""
    model = onnx.load(str(source))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    shifted: dict[str, str] = {}  # int8 initializer -> its uint8 twin
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3:
            continue
        weight, zero = (initializers.get(node.input[i]) for i in (0, 2))
        if weight is None or zero is None or weight.data_type != onnx.TensorProto.INT8:
            continue
        node.input[0] = _uint8_twin(graph, initializers, shifted, weight.name)
        node.input[2] = _uint8_twin(graph, initializers, shifted, zero.name)
    return _save_without_unread(model, initializers, shifted, out)


def _uint8_twin(graph, initializers: dict, twins: dict[str, str], name: str) -> str:
    """The name of int8 initializer `name`'s uint8 twin (values + 128), added to `graph` on first use."""
    if name not in twins:
        twins[name] = f"{name}_u8"
        # A zero point shared by an activation and a weight already has its twin from unsigned_activations.
        if not any(i.name == twins[name] for i in graph.initializer):
            values = numpy_helper.to_array(initializers[name]).astype(np.int16) + 128
            graph.initializer.append(numpy_helper.from_array(values.astype(np.uint8), twins[name]))
    return twins[name]


def _save_without_unread(model, initializers: dict, twins: dict[str, str], out: Path) -> Path:
    """`model` to `out`, less the int8 initializers that no node reads any more."""
    still_read = {name for node in model.graph.node for name in node.input}
    for name in twins:
        if name not in still_read:
            model.graph.initializer.remove(initializers[name])
    onnx.save(model, str(out))
    return out
