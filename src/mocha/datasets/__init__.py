"""Datasets: preparing the classic data sets and converting arrays to Mocha's HDF5 layout.

* `mocha.datasets.mnist.prepare(out_dir, mirror=None)` and `mocha.datasets.cifar10.prepare(...)`
  fetch the official files (or a mirror), verify them and write `train.h5`, `test.h5`,
  `train.txt` and `test.txt` for `HDF5DataLayer(source=".../train.txt")`.
* `mocha.datasets.convert` turns `.npy`/`.npz`/CSV files or in-memory arrays into that layout.
* `mocha.datasets.hdf5_stream` is the reader behind the HDF5 data layers.

Submodules are imported on demand; `import mocha.datasets` loads nothing heavy.
"""
