"""The kernel table: `Kernels`, one typed method per kernel, is what `backend.kernels` is (an
editor goes from `backend.kernels.<name>` to its signature); `KERNEL_NAMES`, the only names
`mocha_register_kernels` takes, derives from it. An implementation is `impl(backend, <the
method's arguments>)`. Arrays are backend arrays, NCHW; `kernel`, `pad`, `stride`, `out_hw`
are (height, width) pairs; a kernel returns a new array unless given `out` (`out=x` works in
place for the elementwise and update kernels). `mocha.plugins.backends.generic` has the rules.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Protocol

from mocha.core.errors import UnknownNameError

Array = Any  # a backend array (numpy.ndarray or cupy.ndarray)
Pair = tuple[int, int]


class _Table(Protocol):
    """What the table itself answers besides the kernels (`mocha.core.backend.KernelTable`)."""

    def generic(self, name: str) -> Callable[..., Any]:
        """The generic ("*") version of kernel `name`, bound to this backend (what a backend's
        own kernel falls back to for inputs it does not handle)."""


class Kernels(_Table, Protocol):
    """The named hot-spot functions of a backend (the table's order groups them by topic)."""

    def im2col(self, x: Array, kernel: Pair, pad: Pair, stride: Pair) -> Array:
        """x[C,H,W] | x[N,C,H,W] -> col[C*kh*kw, N*oh*ow]: row (c*kh+p)*kw+q, column
        (n*oh+i)*ow+j; zero padding, floor size."""

    def col2im(
        self, col: Array, x_shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair
    ) -> Array:
        """The adjoint of im2col into x_shape (C,H,W) | (N,C,H,W): sums overlaps, drops
        padding."""

    def conv_forward(
        self, x: Array, w: Array, b: Array | None, pad: Pair, stride: Pair, groups: int,
        out: Array | None = None, cache: dict[str, Any] | None = None,
    ) -> Array:  # fmt: skip
        """Cross-correlation of x[N,C,H,W] with w[F,C/g,kh,kw] plus b[F]: y[N,F,oh,ow], oh =
        (H+2ph-kh)//sh + 1. `cache`: a dict of the caller's in which a backend may keep the
        im2col columns for conv_backward on the same, unchanged x."""

    def conv_backward(
        self, x: Array, w: Array, gy: Array, pad: Pair, stride: Pair, groups: int,
        need_dx: bool = True, out: Any = None, cache: dict[str, Any] | None = None,
    ) -> tuple[Array | None, Array, Array]:  # fmt: skip
        """(dx | None, dw, db); `out` = (dx|None, dw|None, db|None) to write into."""

    def max_pool_forward(
        self, x: Array, kernel: Pair, pad: Pair, stride: Pair, out_hw: Pair, out: Any = None
    ) -> tuple[Array, Array]:
        """(y, argmax_index): windows clipped to the image (padding never read), first max in
        row-major order; argmax_index int64 [N,C,oh,ow] = flat h*W + w in the (H, W) plane;
        `out` = (y|None, argmax_index|None)."""

    def max_pool_backward(
        self, gy: Array, argmax_index: Array, x_shape: tuple[int, ...], out: Array | None = None
    ) -> Array:
        """gx, summed where windows overlap."""

    def avg_pool_forward(
        self, x: Array, kernel: Pair, pad: Pair, stride: Pair, out_hw: Pair, out: Any = None,
        divisor: str = "window",
    ) -> Array:  # fmt: skip
        """y = in-image sum / (kh*kw) (divisor "window"); "padded": / the window's cells in the
        padded image, "image": / its in-image cells."""

    def avg_pool_backward(
        self, gy: Array, x_shape: tuple[int, ...], kernel: Pair, pad: Pair, stride: Pair,
        out: Array | None = None, divisor: str = "window",
    ) -> Array:  # fmt: skip
        """gx (out_hw = gy's last 2 dims)."""

    def lrn_forward(
        self, x: Array, kernel: int, scale: float, power: float, shift: float, mode: str,
        out: Any = None,
    ) -> tuple[Array, Array]:  # fmt: skip
        """(y, denom): denom = shift + scale/n · Σ_window x², y = x · denom^-power; mode
        "across_channel" (axis 1, rank >= 2) or "within_channel" (k×k in H, W)."""

    def lrn_backward(
        self, x: Array, y: Array, denom: Array, gy: Array, kernel: int, scale: float,
        power: float, shift: float, mode: str, out: Array | None = None,
    ) -> Array:  # fmt: skip
        """gx of lrn_forward."""

    def batchnorm_forward(
        self, x: Array, mean: Array, var: Array, eps: float, scale: Array | None = None,
        shift: Array | None = None, batch_stats: bool = False, out: Array | None = None,
    ) -> Array:  # fmt: skip
        """y = (x − mean)·(var + eps)^-½ [·scale + shift] on x[N,C,S]; with `batch_stats`, mean
        and (biased) var are first computed over N and S and written into `mean` and `var`."""

    def batchnorm_backward(
        self, x: Array, gy: Array, mean: Array, var: Array, eps: float,
        scale: Array | None = None, batch_stats: bool = False, out: Any = None,
    ) -> tuple[Array | None, Array, Array]:  # fmt: skip
        """(gx, dscale, dshift); `out` = (gx|None, dscale|None, dshift|None), gx None when
        out's is None (see `generic.batchnorm`)."""

    def softmax(self, x: Array, axis: int = 1, out: Array | None = None) -> Array:
        """exp(x - max) / Σ exp(x - max) along `axis` (numerically stable)."""

    def gemm(
        self, a: Array, b: Array, out: Array | None = None, trans_a: bool = False,
        trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
    ) -> Array:  # fmt: skip
        """out = alpha · op(a) @ op(b) + beta · out."""

    def relu_forward(self, x: Array, epsilon: float, out: Array | None = None) -> Array:
        """max(epsilon, x)."""

    def relu_backward(self, y: Array, g: Array, epsilon: float, out: Array | None = None) -> Array:
        """g · [y > epsilon] (y: the neuron's output)."""

    def lrelu_forward(self, x: Array, out: Array | None = None) -> Array:
        """x if x > 0 else LRELU_SLOPE · x."""

    def lrelu_backward(self, y: Array, g: Array, out: Array | None = None) -> Array:
        """g · (1 if y > 0 else LRELU_SLOPE)."""

    def sigmoid_forward(self, x: Array, out: Array | None = None) -> Array:
        """1 / (1 + exp(-x)), overflow-free."""

    def sigmoid_backward(self, y: Array, g: Array, out: Array | None = None) -> Array:
        """g · y(1 - y)."""

    def tanh_forward(self, x: Array, out: Array | None = None) -> Array:
        """tanh x."""

    def tanh_backward(self, y: Array, g: Array, out: Array | None = None) -> Array:
        """g · (1 - y²)."""

    def dropout_mask(
        self, u: Array, ratio: float, scale: float = 1.0, out: Array | None = None
    ) -> Array:
        """[u > ratio] · scale."""

    def dropout_apply(self, x: Array, mask: Array, out: Array | None = None) -> Array:
        """x · mask."""

    def softmax_loss_backward(
        self, prob: Array, label_index: Array, axis: int, coef: float,
        w_label: Array | None = None, out: Array | None = None,
    ) -> Array:  # fmt: skip
        """(prob - onehot(label_index along axis)) · coef [· w_label]; label_index int64 and
        w_label shaped like prob with 1 on axis."""

    def momentum_update(self, h: Array, g: Array, w: Array, momentum: float, rate: float) -> None:
        """In place: h ← momentum·h − rate·g, then w ← w + h (the SGD step)."""

    def add_scaled(self, y: Array, x: Array, alpha: float) -> None:
        """In place: y ← y + alpha·x."""


KERNEL_NAMES: tuple[str, ...] = tuple(n for n in vars(Kernels) if not n.startswith("_"))


def check_kernel_name(name: str) -> None:
    """Raise an `UnknownNameError` unless `name` is a kernel of the table (`KERNEL_NAMES`)."""
    if name not in KERNEL_NAMES:
        close = difflib.get_close_matches(name, KERNEL_NAMES, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"{name!r} is not a kernel of the kernel table.{hint} Kernels: "
            f"{', '.join(KERNEL_NAMES)} (a new kernel is a method of `Kernels` in "
            f"mocha.core.kernel_names, whence KERNEL_NAMES, with a generic version; see "
            f"mocha/plugins/backends/README.md)"
        )
