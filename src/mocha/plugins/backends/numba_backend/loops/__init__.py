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

import numba

from . import blas

__all__ = ["blas", "numba"]
