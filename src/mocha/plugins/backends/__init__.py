"""The backends and their kernels: `generic/` (the `"*"` kernels), `numpy_backend`,
`numba_backend/`, `cupy_backend`. See README.md in this folder for the layout, the rules and the
recipe for adding a kernel."""
