"""Reading Caffe files: `.prototxt` (text) and `.caffemodel` (binary) `NetParameter`s, in the
current format and the old V1 format, and `.binaryproto` mean files.

Everything is normalized to `CaffeLayer`s the way Caffe's upgrade path (`upgrade_proto.cpp`)
reads old files: V1 enum types become the current type strings (`CONVOLUTION` →
`"Convolution"`), net-level `input` / `input_shape` / `input_dim` become an `Input` layer, and
legacy blob shapes (num, channels, height, width) become plain shapes. A V0 net (layers
nested as `layers { layer { ... } }`) is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mocha.core.errors import MochaError


class CaffeError(MochaError, ValueError):
    """A Caffe file that cannot be read, or a net that cannot be mapped."""


V1_TYPES = {
    "ABSVAL": "AbsVal",
    "ACCURACY": "Accuracy",
    "ARGMAX": "ArgMax",
    "BNLL": "BNLL",
    "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss",
    "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution",
    "DATA": "Data",
    "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise",
    "EXP": "Exp",
    "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct",
    "LRN": "LRN",
    "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN",
    "POOLING": "Pooling",
    "POWER": "Power",
    "RELU": "ReLU",
    "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence",
    "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split",
    "SLICE": "Slice",
    "TANH": "TanH",
    "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}


@dataclass
class CaffeLayer:
    """One Caffe layer, format-independent. `phase` is "train", "test" or "both"; `param`
    is the layer's message (its `*_param` fields are read by the mapping); `blobs` are the
    learned blobs (numpy arrays in Caffe's shapes); `lr_mult` the per-blob learning-rate
    multipliers given in the file."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    phase: str = "both"
    param: Any = None
    blobs: list[np.ndarray] = field(default_factory=list)
    lr_mult: list[float] = field(default_factory=list)

    def has(self, name: str) -> bool:
        """Whether the layer message sets its `name` field (e.g. "pooling_param")."""
        if self.param is None:
            return False
        try:
            return self.param.HasField(name)
        except ValueError:
            return False

    def get(self, name: str) -> Any:
        """The layer's `*_param` message `name` (defaults when unset)."""
        return getattr(self.param, name)


@dataclass
class CaffeNet:
    """A whole Caffe net: its name, its layers in file order, and where it came from."""

    name: str
    layers: list[CaffeLayer]
    source: str
    format: str  # "current" or "V1"


def _proto() -> Any:
    try:
        from mocha.plugins.formats.caffe import schema
    except ImportError as exc:  # protobuf missing
        raise CaffeError(
            f"reading Caffe files needs the protobuf package ({exc}); install the extra: "
            f'pip install "mocha-dl[caffe]"'
        ) from None
    return schema


def blob_array(blob: Any, where: str) -> np.ndarray:
    """A BlobProto as a numpy array (float32 data or float64 double_data), in its shape."""
    if len(blob.shape.dim):
        shape = tuple(int(d) for d in blob.shape.dim)
    elif any(blob.HasField(k) for k in ("num", "channels", "height", "width")):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = None
    if len(blob.double_data):
        data = np.asarray(blob.double_data, dtype=np.float64)
    else:
        data = np.asarray(blob.data, dtype=np.float32)
    if shape is None:
        shape = (data.size,)
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.int64)) != data.size:
        raise CaffeError(
            f"{where}: blob of shape {list(shape)} holds {data.size} values "
            f"(the file is truncated or inconsistent)"
        )
    return data.reshape(shape)


def _phases(layer: Any) -> set[str]:
    """The phases ("train", "test") in which Caffe's default NetState (level 0, no stages)
    includes the layer, by its include / exclude rules (Caffe's StateMeetsRule)."""

    def meets(rule: Any, phase: int) -> bool:
        if rule.HasField("phase") and rule.phase != phase:
            return False
        if rule.HasField("min_level") and 0 < rule.min_level:
            return False
        if rule.HasField("max_level") and 0 > rule.max_level:
            return False
        return not len(rule.stage)

    out = set()
    for number, name in ((0, "train"), (1, "test")):
        if len(layer.include):
            ok = any(meets(r, number) for r in layer.include)
        else:
            ok = not any(meets(r, number) for r in layer.exclude)
        if ok:
            out.add(name)
    return out


def _layer(msg: Any, v1: bool, index: int, where: str, need_type: bool = True) -> CaffeLayer | None:
    schema = _proto()
    if v1:
        if msg.HasField("layer"):
            raise CaffeError(
                f"{where}: layers[{index}] is in Caffe's V0 format (layers {{ layer "
                f"{{ ... }} }}); upgrade it with Caffe's upgrade_net_proto_text"
            )
        type_name = schema.enum_name("V1LayerType", msg.type)
        ltype = V1_TYPES.get(type_name, type_name)
        lr = list(msg.blobs_lr)
    else:
        ltype = msg.type
        lr = [p.lr_mult for p in msg.param]
    name = msg.name or f"layer{index}"
    if not ltype and need_type:
        raise CaffeError(f"{where}: layer {name!r} has no type")
    phases = _phases(msg)
    phase = "both" if phases == {"train", "test"} else (phases.pop() if phases else "")
    if not phase:
        return None  # never part of the net in Caffe's default state
    blobs = [blob_array(b, f"{where}: layer {name!r} blob {i}") for i, b in enumerate(msg.blobs)]
    return CaffeLayer(
        name=name,
        type=ltype,
        bottoms=list(msg.bottom),
        tops=list(msg.top),
        phase=phase,
        param=msg,
        blobs=blobs,
        lr_mult=lr,
    )


def _input_layers(net: Any, where: str) -> list[CaffeLayer]:
    """Net-level `input:` declarations as Input layers (Caffe's UpgradeNetInput)."""
    if not len(net.input):
        return []
    schema = _proto()
    shapes: list[list[int]] = [list(s.dim) for s in net.input_shape]
    if not shapes and len(net.input_dim):
        dims = list(net.input_dim)
        if len(dims) != 4 * len(net.input):
            raise CaffeError(
                f"{where}: {len(net.input)} input(s) but {len(dims)} input_dim "
                f"values (4 per input expected)"
            )
        shapes = [dims[4 * i : 4 * i + 4] for i in range(len(net.input))]
    if len(shapes) != len(net.input):
        raise CaffeError(f"{where}: {len(net.input)} input(s) but {len(shapes)} shapes")
    msg = schema.LayerParameter(name="input", type="Input", top=list(net.input))
    for dims in shapes:
        msg.input_param.shape.add(dim=dims)
    return [CaffeLayer(name="input", type="Input", bottoms=[], tops=list(net.input), param=msg)]


def _looks_binary(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < 4090  # a multi-byte character cut at the end is still text
    return b"\x00" in data[:4096]


def parse_net(data: bytes, where: str, binary: bool | None = None) -> Any:
    """A NetParameter message from the bytes of a prototxt (text) or a caffemodel (binary)."""
    schema = _proto()
    from google.protobuf import message as pb_message
    from google.protobuf import text_format

    net = schema.NetParameter()
    if binary is None:
        binary = _looks_binary(data)
    if binary:
        try:
            net.ParseFromString(data)
        except (pb_message.DecodeError, RuntimeError, ValueError) as exc:
            raise CaffeError(
                f"{where}: not a Caffe net (binary NetParameter): the file is "
                f"truncated or corrupt ({exc})"
            ) from None
    else:
        try:
            text_format.Parse(
                data.decode("utf-8"), net, allow_unknown_field=True, allow_unknown_extension=True
            )
        except (text_format.ParseError, UnicodeDecodeError) as exc:
            raise CaffeError(
                f"{where}: not a Caffe net definition (text NetParameter): {exc}"
            ) from None
    if not len(net.layer) and not len(net.layers) and not len(net.input):
        kind = "binary" if binary else "text"
        raise CaffeError(
            f"{where}: no layers: this is not a Caffe net ({kind} NetParameter "
            f"with 'layer' or 'layers' entries); is it another kind of file "
            f"(a solver, a mean file)?"
        )
    if len(net.layer) and len(net.layers):
        raise CaffeError(f"{where}: mixes the current 'layer' and the old V1 'layers' entries")
    return net


def read_net(
    path: str | os.PathLike, binary: bool | None = None, weights_only: bool = False
) -> CaffeNet:
    """Read a `.prototxt` or `.caffemodel` file (format told from the content) as a CaffeNet.
    `weights_only`: only the layers' names and blobs are used (types may be missing)."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CaffeError(f"cannot read {where!r}: {exc.strerror or exc}") from None
    net = parse_net(data, where, binary)
    v1 = len(net.layers) > 0
    layers = _input_layers(net, where)
    for i, msg in enumerate(net.layers if v1 else net.layer):
        layer = _layer(msg, v1, i, where, need_type=not weights_only)
        if layer is not None:
            layers.append(layer)
    return CaffeNet(
        name=net.name or os.path.splitext(os.path.basename(where))[0],
        layers=layers,
        source=where,
        format="V1" if v1 else "current",
    )


def read_mean_file(path: str | os.PathLike) -> np.ndarray:
    """A Caffe `.binaryproto` mean file (one BlobProto) as a float array `(C, H, W)`."""
    schema = _proto()
    from google.protobuf import message as pb_message

    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CaffeError(f"cannot read the mean file {where!r}: {exc.strerror or exc}") from None
    blob = schema.BlobProto()
    try:
        blob.ParseFromString(data)
    except (pb_message.DecodeError, RuntimeError, ValueError) as exc:
        raise CaffeError(f"{where}: not a Caffe mean file (binary BlobProto): {exc}") from None
    mean = blob_array(blob, where)
    if mean.size == 0:
        raise CaffeError(f"{where}: not a Caffe mean file (the BlobProto holds no data)")
    while mean.ndim > 3 and mean.shape[0] == 1:
        mean = mean[0]
    if mean.ndim != 3:
        raise CaffeError(
            f"{where}: mean blob of shape {list(mean.shape)}; expected (1, C, H, W) or (C, H, W)"
        )
    return mean
