"""The generic kernels: the whole `"*"` column of the kernel table, the oracle of every backend.

Each kernel is written with the backend's array module (`backend.xp`) only, so it runs
unchanged on NumPy and CuPy; a faster backend registers its own implementation under the same
name and wins on that backend (`mocha backends --kernels` shows which one serves each kernel).
One module per topic, each ending with its `KERNELS` table (kernel name -> implementation);
this module's hook registers them all for every backend (`"*"`):

===============  ===========================================================================
``conv``         im2col, col2im, conv_forward, conv_backward
``pool``         max_pool_forward/backward, avg_pool_forward/backward
``lrn``          lrn_forward, lrn_backward
``batchnorm``    batchnorm_forward, batchnorm_backward
``softmax``      softmax
``elementwise``  the neurons' forward/backward, dropout_mask/apply, softmax_loss_backward
``blas``         gemm
===============  ===========================================================================

The generic kernels belong to no backend: disabling a backend plugin (say
`MOCHA_DISABLE_PLUGINS=backends.numpy_backend`) leaves every other backend its generic kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mocha.plugins.backends.generic.batchnorm as batchnorm
import mocha.plugins.backends.generic.blas as blas
import mocha.plugins.backends.generic.conv as conv
import mocha.plugins.backends.generic.elementwise as elementwise
import mocha.plugins.backends.generic.lrn as lrn
import mocha.plugins.backends.generic.pool as pool
import mocha.plugins.backends.generic.softmax as softmax
import mocha.plugins.backends.generic.update as update
from mocha.core.hookspecs import hookimpl

#: The topic modules whose `KERNELS` are registered.
TOPICS = (conv, pool, lrn, batchnorm, softmax, elementwise, blas, update)
#: Every generic kernel: name -> implementation.
KERNELS: dict[str, Callable[..., Any]] = {
    name: impl for topic in TOPICS for name, impl in topic.KERNELS.items()
}


@hookimpl
def mocha_register_kernels(register):
    for name, impl in KERNELS.items():
        register(name, impl)
