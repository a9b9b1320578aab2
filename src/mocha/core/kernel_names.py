"""The names of the kernel table (`mocha.core.backend` documents each signature): the only
names a plugin may register with `mocha_register_kernels`."""

from __future__ import annotations

import difflib

from mocha.core.errors import UnknownNameError

KERNEL_NAMES: tuple[str, ...] = (
    "im2col",
    "col2im",
    "conv_forward",
    "conv_backward",
    "max_pool_forward",
    "max_pool_backward",
    "avg_pool_forward",
    "avg_pool_backward",
    "lrn_forward",
    "lrn_backward",
    "batchnorm_forward",
    "batchnorm_backward",
    "softmax",
    "gemm",
    "relu_forward",
    "relu_backward",
    "lrelu_forward",
    "lrelu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "dropout_mask",
    "dropout_apply",
    "softmax_loss_backward",
    "momentum_update",
    "add_scaled",
)


def check_kernel_name(name: str) -> None:
    """Raise an `UnknownNameError` unless `name` is a kernel of the table (`KERNEL_NAMES`)."""
    if name not in KERNEL_NAMES:
        close = difflib.get_close_matches(name, KERNEL_NAMES, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"{name!r} is not a kernel of the kernel table.{hint} Kernels: "
            f"{', '.join(KERNEL_NAMES)} (a new kernel is added to KERNEL_NAMES in "
            f"mocha.core.kernel_names, with a generic version; see "
            f"mocha/plugins/backends/README.md)"
        )
