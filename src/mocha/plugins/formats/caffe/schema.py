"""Caffe's `NetParameter` schema, built at import time from Caffe's field numbers.

The messages below are the subset of `caffe.proto` (BVLC Caffe, `../shared/reference`) that
the importer and exporter use, with Caffe's field numbers, types and defaults, built as a
`FileDescriptorProto` in a private descriptor pool (no `protoc` step, no clash with a real
`caffe_pb2` in the same process). Fields of Caffe's schema that are left out here are
skipped when a file is read (binary: kept as unknown fields; text: `allow_unknown_field`).
Both the current layer format (`NetParameter.layer`, `LayerParameter`) and the old V1 format
(`NetParameter.layers`, `V1LayerParameter` with enum types) are described.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "mocha_caffe"

# (name, number, type, label, extra): type is a scalar name, "msg:Name" or "enum:Name";
# label "?" optional, "*" repeated, "*p" repeated packed; extra is the default (as text).
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
    "int64": _F.TYPE_INT64,
    "int32": _F.TYPE_INT32,
    "uint32": _F.TYPE_UINT32,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

ENUMS: dict[str, list[tuple[str, int]]] = {
    "Phase": [("TRAIN", 0), ("TEST", 1)],
    "Engine": [("DEFAULT", 0), ("CAFFE", 1), ("CUDNN", 2)],
    "PoolMethod": [("MAX", 0), ("AVE", 1), ("STOCHASTIC", 2)],
    "RoundMode": [("CEIL", 0), ("FLOOR", 1)],
    "NormRegion": [("ACROSS_CHANNELS", 0), ("WITHIN_CHANNEL", 1)],
    "EltwiseOp": [("PROD", 0), ("SUM", 1), ("MAX", 2)],
    "DB": [("LEVELDB", 0), ("LMDB", 1)],
    "NormalizationMode": [("FULL", 0), ("VALID", 1), ("BATCH_SIZE", 2), ("NONE", 3)],
    "VarianceNorm": [("FAN_IN", 0), ("FAN_OUT", 1), ("AVERAGE", 2)],
    "V1LayerType": [
        ("NONE", 0),
        ("ABSVAL", 35),
        ("ACCURACY", 1),
        ("ARGMAX", 30),
        ("BNLL", 2),
        ("CONCAT", 3),
        ("CONTRASTIVE_LOSS", 37),
        ("CONVOLUTION", 4),
        ("DATA", 5),
        ("DECONVOLUTION", 39),
        ("DROPOUT", 6),
        ("DUMMY_DATA", 32),
        ("EUCLIDEAN_LOSS", 7),
        ("ELTWISE", 25),
        ("EXP", 38),
        ("FLATTEN", 8),
        ("HDF5_DATA", 9),
        ("HDF5_OUTPUT", 10),
        ("HINGE_LOSS", 28),
        ("IM2COL", 11),
        ("IMAGE_DATA", 12),
        ("INFOGAIN_LOSS", 13),
        ("INNER_PRODUCT", 14),
        ("LRN", 15),
        ("MEMORY_DATA", 29),
        ("MULTINOMIAL_LOGISTIC_LOSS", 16),
        ("MVN", 34),
        ("POOLING", 17),
        ("POWER", 26),
        ("RELU", 18),
        ("SIGMOID", 19),
        ("SIGMOID_CROSS_ENTROPY_LOSS", 27),
        ("SILENCE", 36),
        ("SOFTMAX", 20),
        ("SOFTMAX_LOSS", 21),
        ("SPLIT", 22),
        ("SLICE", 33),
        ("TANH", 23),
        ("WINDOW_DATA", 24),
        ("THRESHOLD", 31),
    ],
}

# Caffe nests its enums in the messages that use them (Phase is at file level); so do we.
_PARAMS: list[tuple[str, int, str]] = [  # the *_param fields: (name, LayerParameter #, V1 #)
    ("transform_param", 100, 36),
    ("loss_param", 101, 42),
    ("accuracy_param", 102, 27),
    ("argmax_param", 103, 23),
    ("concat_param", 104, 9),
    ("convolution_param", 106, 10),
    ("data_param", 107, 11),
    ("dropout_param", 108, 12),
    ("eltwise_param", 110, 24),
    ("exp_param", 111, 41),
    ("flatten_param", 135, 0),
    ("hdf5_data_param", 112, 13),
    ("image_data_param", 115, 15),
    ("inner_product_param", 117, 17),
    ("input_param", 143, 0),
    ("lrn_param", 118, 18),
    ("memory_data_param", 119, 22),
    ("pooling_param", 121, 19),
    ("power_param", 122, 21),
    ("relu_param", 123, 30),
    ("reshape_param", 133, 0),
    ("softmax_param", 125, 39),
]


def _param_type(name: str) -> str:
    special = {
        "transform_param": "TransformationParameter",
        "hdf5_data_param": "HDF5DataParameter",
        "lrn_param": "LRNParameter",
        "relu_param": "ReLUParameter",
        "argmax_param": "ArgMaxParameter",
    }
    if name in special:
        return "msg:" + special[name]
    words = name[: -len("_param")].split("_")
    return "msg:" + "".join(w.capitalize() for w in words) + "Parameter"


MESSAGES: dict[str, list[tuple]] = {
    "BlobShape": [("dim", 1, "int64", "*p")],
    "BlobProto": [
        ("shape", 7, "msg:BlobShape", "?"),
        ("data", 5, "float", "*p"),
        ("double_data", 8, "double", "*p"),
        ("num", 1, "int32", "?"),
        ("channels", 2, "int32", "?"),
        ("height", 3, "int32", "?"),
        ("width", 4, "int32", "?"),
    ],
    "NetStateRule": [
        ("phase", 1, "enum:Phase", "?"),
        ("min_level", 2, "int32", "?"),
        ("max_level", 3, "int32", "?"),
        ("stage", 4, "string", "*"),
        ("not_stage", 5, "string", "*"),
    ],
    "ParamSpec": [
        ("name", 1, "string", "?"),
        ("lr_mult", 3, "float", "?", "1"),
        ("decay_mult", 4, "float", "?", "1"),
    ],
    "FillerParameter": [
        ("type", 1, "string", "?", "constant"),
        ("value", 2, "float", "?"),
        ("min", 3, "float", "?"),
        ("max", 4, "float", "?", "1"),
        ("mean", 5, "float", "?"),
        ("std", 6, "float", "?", "1"),
        ("sparse", 7, "int32", "?", "-1"),
        ("variance_norm", 8, "enum:VarianceNorm", "?"),
    ],
    "TransformationParameter": [
        ("scale", 1, "float", "?", "1"),
        ("mirror", 2, "bool", "?"),
        ("crop_size", 3, "uint32", "?"),
        ("mean_file", 4, "string", "?"),
        ("mean_value", 5, "float", "*"),
        ("force_color", 6, "bool", "?"),
        ("force_gray", 7, "bool", "?"),
    ],
    "LossParameter": [
        ("ignore_label", 1, "int32", "?"),
        ("normalization", 3, "enum:NormalizationMode", "?", "VALID"),
        ("normalize", 2, "bool", "?"),
    ],
    "AccuracyParameter": [
        ("top_k", 1, "uint32", "?", "1"),
        ("axis", 2, "int32", "?", "1"),
        ("ignore_label", 3, "int32", "?"),
    ],
    "ArgMaxParameter": [
        ("out_max_val", 1, "bool", "?"),
        ("top_k", 2, "uint32", "?", "1"),
        ("axis", 3, "int32", "?"),
    ],
    "ConcatParameter": [("axis", 2, "int32", "?", "1"), ("concat_dim", 1, "uint32", "?", "1")],
    "ConvolutionParameter": [
        ("num_output", 1, "uint32", "?"),
        ("bias_term", 2, "bool", "?", "true"),
        ("pad", 3, "uint32", "*"),
        ("kernel_size", 4, "uint32", "*"),
        ("stride", 6, "uint32", "*"),
        ("dilation", 18, "uint32", "*"),
        ("pad_h", 9, "uint32", "?"),
        ("pad_w", 10, "uint32", "?"),
        ("kernel_h", 11, "uint32", "?"),
        ("kernel_w", 12, "uint32", "?"),
        ("stride_h", 13, "uint32", "?"),
        ("stride_w", 14, "uint32", "?"),
        ("group", 5, "uint32", "?", "1"),
        ("weight_filler", 7, "msg:FillerParameter", "?"),
        ("bias_filler", 8, "msg:FillerParameter", "?"),
        ("engine", 15, "enum:Engine", "?"),
        ("axis", 16, "int32", "?", "1"),
        ("force_nd_im2col", 17, "bool", "?"),
    ],
    "DataParameter": [
        ("source", 1, "string", "?"),
        ("batch_size", 4, "uint32", "?"),
        ("rand_skip", 7, "uint32", "?"),
        ("backend", 8, "enum:DB", "?"),
        ("scale", 2, "float", "?", "1"),
        ("mean_file", 3, "string", "?"),
        ("crop_size", 5, "uint32", "?"),
        ("mirror", 6, "bool", "?"),
    ],
    "DropoutParameter": [("dropout_ratio", 1, "float", "?", "0.5")],
    "EltwiseParameter": [
        ("operation", 1, "enum:EltwiseOp", "?", "SUM"),
        ("coeff", 2, "float", "*"),
        ("stable_prod_grad", 3, "bool", "?", "true"),
    ],
    "ExpParameter": [
        ("base", 1, "float", "?", "-1"),
        ("scale", 2, "float", "?", "1"),
        ("shift", 3, "float", "?"),
    ],
    "FlattenParameter": [("axis", 1, "int32", "?", "1"), ("end_axis", 2, "int32", "?", "-1")],
    "HDF5DataParameter": [
        ("source", 1, "string", "?"),
        ("batch_size", 2, "uint32", "?"),
        ("shuffle", 3, "bool", "?"),
    ],
    "ImageDataParameter": [
        ("source", 1, "string", "?"),
        ("batch_size", 4, "uint32", "?", "1"),
        ("rand_skip", 7, "uint32", "?"),
        ("shuffle", 8, "bool", "?"),
        ("new_height", 9, "uint32", "?"),
        ("new_width", 10, "uint32", "?"),
        ("is_color", 11, "bool", "?", "true"),
        ("scale", 2, "float", "?", "1"),
        ("mean_file", 3, "string", "?"),
        ("crop_size", 5, "uint32", "?"),
        ("mirror", 6, "bool", "?"),
        ("root_folder", 12, "string", "?"),
    ],
    "InnerProductParameter": [
        ("num_output", 1, "uint32", "?"),
        ("bias_term", 2, "bool", "?", "true"),
        ("weight_filler", 3, "msg:FillerParameter", "?"),
        ("bias_filler", 4, "msg:FillerParameter", "?"),
        ("axis", 5, "int32", "?", "1"),
        ("transpose", 6, "bool", "?"),
    ],
    "InputParameter": [("shape", 1, "msg:BlobShape", "*")],
    "LRNParameter": [
        ("local_size", 1, "uint32", "?", "5"),
        ("alpha", 2, "float", "?", "1"),
        ("beta", 3, "float", "?", "0.75"),
        ("norm_region", 4, "enum:NormRegion", "?"),
        ("k", 5, "float", "?", "1"),
        ("engine", 6, "enum:Engine", "?"),
    ],
    "MemoryDataParameter": [
        ("batch_size", 1, "uint32", "?"),
        ("channels", 2, "uint32", "?"),
        ("height", 3, "uint32", "?"),
        ("width", 4, "uint32", "?"),
    ],
    "PoolingParameter": [
        ("pool", 1, "enum:PoolMethod", "?"),
        ("pad", 4, "uint32", "?"),
        ("pad_h", 9, "uint32", "?"),
        ("pad_w", 10, "uint32", "?"),
        ("kernel_size", 2, "uint32", "?"),
        ("kernel_h", 5, "uint32", "?"),
        ("kernel_w", 6, "uint32", "?"),
        ("stride", 3, "uint32", "?", "1"),
        ("stride_h", 7, "uint32", "?"),
        ("stride_w", 8, "uint32", "?"),
        ("engine", 11, "enum:Engine", "?"),
        ("global_pooling", 12, "bool", "?"),
        ("round_mode", 13, "enum:RoundMode", "?"),
    ],
    "PowerParameter": [
        ("power", 1, "float", "?", "1"),
        ("scale", 2, "float", "?", "1"),
        ("shift", 3, "float", "?"),
    ],
    "ReLUParameter": [("negative_slope", 1, "float", "?"), ("engine", 2, "enum:Engine", "?")],
    "ReshapeParameter": [
        ("shape", 1, "msg:BlobShape", "?"),
        ("axis", 2, "int32", "?"),
        ("num_axes", 3, "int32", "?", "-1"),
    ],
    "SoftmaxParameter": [("engine", 1, "enum:Engine", "?"), ("axis", 2, "int32", "?", "1")],
    "V0LayerParameter": [],  # only detected (V0 files are refused), never read
    "LayerParameter": [
        ("name", 1, "string", "?"),
        ("type", 2, "string", "?"),
        ("bottom", 3, "string", "*"),
        ("top", 4, "string", "*"),
        ("phase", 10, "enum:Phase", "?"),
        ("loss_weight", 5, "float", "*"),
        ("param", 6, "msg:ParamSpec", "*"),
        ("blobs", 7, "msg:BlobProto", "*"),
        ("include", 8, "msg:NetStateRule", "*"),
        ("exclude", 9, "msg:NetStateRule", "*"),
        *[(name, num, _param_type(name), "?") for name, num, _ in _PARAMS],
    ],
    "V1LayerParameter": [
        ("bottom", 2, "string", "*"),
        ("top", 3, "string", "*"),
        ("name", 4, "string", "?"),
        ("include", 32, "msg:NetStateRule", "*"),
        ("exclude", 33, "msg:NetStateRule", "*"),
        ("type", 5, "enum:V1LayerType", "?"),
        ("blobs", 6, "msg:BlobProto", "*"),
        ("param", 1001, "string", "*"),
        ("blobs_lr", 7, "float", "*"),
        ("weight_decay", 8, "float", "*"),
        ("loss_weight", 35, "float", "*"),
        ("layer", 1, "msg:V0LayerParameter", "?"),
        *[(name, v1, _param_type(name), "?") for name, _, v1 in _PARAMS if v1],
    ],
    "NetParameter": [
        ("name", 1, "string", "?"),
        ("input", 3, "string", "*"),
        ("input_shape", 8, "msg:BlobShape", "*"),
        ("input_dim", 4, "int32", "*"),
        ("layer", 100, "msg:LayerParameter", "*"),
        ("layers", 2, "msg:V1LayerParameter", "*"),
    ],
}


def _add_enum(container: Any, name: str) -> None:
    enum = container.add(name=name)
    for value_name, number in ENUMS[name]:
        enum.value.add(name=value_name, number=number)


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="mocha_caffe.proto", package=PACKAGE, syntax="proto2"
    )
    _add_enum(fd.enum_type, "Phase")
    for name, fields in MESSAGES.items():
        msg = fd.message_type.add(name=name)
        nested: set[str] = set()
        for spec in fields:
            fname, number, ftype, label = spec[:4]
            f = msg.field.add(name=fname, number=number, json_name=fname)
            f.label = _F.LABEL_REPEATED if label.startswith("*") else _F.LABEL_OPTIONAL
            if label == "*p":
                f.options.packed = True
            if ftype.startswith("msg:"):
                f.type, f.type_name = _F.TYPE_MESSAGE, f".{PACKAGE}.{ftype[4:]}"
            elif ftype == "enum:Phase":
                f.type, f.type_name = _F.TYPE_ENUM, f".{PACKAGE}.Phase"
            elif ftype.startswith("enum:"):
                enum = ftype[5:]
                if enum not in nested:  # enum values are scoped by their enclosing message
                    _add_enum(msg.enum_type, enum)
                    nested.add(enum)
                f.type, f.type_name = _F.TYPE_ENUM, f".{PACKAGE}.{name}.{enum}"
            else:
                f.type = _SCALARS[ftype]
            if len(spec) > 4:
                f.default_value = spec[4]
    return fd


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())


def message_class(name: str) -> Any:
    """The generated message class for one of the messages above (e.g. "NetParameter")."""
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


NetParameter = message_class("NetParameter")
BlobProto = message_class("BlobProto")
LayerParameter = message_class("LayerParameter")
V1LayerParameter = message_class("V1LayerParameter")


def enum_name(enum: str, number: int) -> str:
    """The value name of `number` in one of the enums above (for messages)."""
    for name, value in ENUMS[enum]:
        if value == number:
            return name
    return str(number)
