"""The compiled loops of the Numba backend, one module per topic: the only modules of Mocha
that import numba.

Nothing imports them eagerly: `runtime.loops("<topic>")` imports `loops/<topic>.py` on the
first call of a kernel of that topic (after setting numba's OpenMP wait policy), and
`runtime.numba()` this package, whose content is numba itself (for the thread-count controls
and the availability check) and `blas`, the binding of NumPy's own BLAS product that the
compiled convolutions call (no such BLAS: ImportError, the backend is unavailable).
Every loop is `@njit(cache=True)`: numba keeps the machine code in `__pycache__/` next to the
module, so only the very first run on a machine pays the compilation.
"""

from __future__ import annotations

import importlib.util

import numba
import numba.np.linalg


def _load_numpy_support_without_importing_scipy() -> None:
    """Import numba's NumPy support (`numba.np.arraymath`) now, with its BLAS probe made cheap.

    At import, that module checks whether `numpy.dot` could use SciPy's BLAS by importing
    `scipy.linalg` (0.44 s here: a third of LeNet's first training iteration), and numba
    imports it while loading the first cached loop. Mocha's loops never call `numpy.dot`
    (`blas.py` calls NumPy's own BLAS), so the probe only asks whether SciPy is installed;
    numba's real check still runs, importing SciPy, when other code compiles a `numpy.dot`.
    """
    import sys

    if "numba.np.arraymath" in sys.modules:
        return
    linalg = numba.np.linalg
    probe = linalg.ensure_blas

    def installed() -> None:
        if importlib.util.find_spec("scipy") is None:
            raise ImportError("scipy 0.16+ is required for linear algebra")

    linalg.ensure_blas = installed
    try:
        importlib.import_module("numba.np.arraymath")
    finally:
        linalg.ensure_blas = probe


_load_numpy_support_without_importing_scipy()

from . import blas  # noqa: E402

__all__ = ["blas", "numba"]
