"""Throughput of the HDF5 data layers on MNIST batches, and how well the async layer hides
reading time behind computation. Run on demand (not a test):

    python benchmarks/data_layers.py [--mirror ../shared/data/mnist] [--samples 60000]
                                     [--batches 2000] [--compute-ms 2]

1. Prepares MNIST with `mocha.datasets.mnist.prepare` from the mirror, then repeats the digits
   into one file of `--samples` samples (full MNIST size by default).
2. Images/second for batches of 64 through HDF5DataLayer and AsyncHDF5DataLayer, with and
   without shuffling (target: >= 50,000 images/s).
3. Hiding: the same layers with `--compute-ms` of simulated computation per batch (a sleep, as
   a GPU or a BLAS call releases the interpreter), in "big file" mode (chunks of a few
   batches, so reading costs something). Prints the read time, the total times and the share
   of the read time the async layer hid.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from mocha import SetupContext
from mocha.datasets import mnist
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.layers import hdf5_data
from mocha.plugins.layers.async_hdf5_data import AsyncHDF5DataLayer
from mocha.plugins.layers.hdf5_data import HDF5DataLayer

BATCH = 64


def make_big(prepared: Path, samples: int, out: Path) -> Path:
    with h5py.File(prepared / "train.h5", "r") as f:
        data, label = f["data"][...], f["label"][...]
    reps = -(-samples // len(data))
    with h5py.File(out / "big.h5", "w") as f:
        f["data"] = np.concatenate([data] * reps)[:samples]
        f["label"] = np.concatenate([label] * reps)[:samples]
    (out / "big.txt").write_text("big.h5\n")
    return out / "big.txt"


def run(layer, batches: int, compute_s: float = 0.0) -> float:
    """Seconds for `batches` forwards (after 20 warm-up forwards)."""
    backend = NumpyBackend(seed=0)
    state = layer.state_cls(layer, backend, [], [], SetupContext())
    try:
        for _ in range(20):
            state.forward(backend, [])
        start = time.perf_counter()
        for _ in range(batches):
            state.forward(backend, [])
            if compute_s:
                time.sleep(compute_s)
        return time.perf_counter() - start
    finally:
        state.shutdown(backend)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_mirror = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    parser.add_argument("--mirror", default=str(default_mirror))
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--compute-ms", type=float, default=2.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mnist.prepare(tmp / "mnist", mirror=args.mirror, log=lambda s: None)
        source = make_big(tmp / "mnist", args.samples, tmp)
        print(
            f"MNIST batches of {BATCH} from one file of {args.samples} samples "
            f"({args.samples * 784 * 4 / 2**20:.0f} MiB), {args.batches} batches per run"
        )

        print("\n1. throughput (images/s)")
        for shuffle in (False, True):
            for label, layer in (
                ("HDF5DataLayer", HDF5DataLayer(source=source, batch_size=BATCH, shuffle=shuffle)),
                (
                    "AsyncHDF5DataLayer",
                    AsyncHDF5DataLayer(source=source, batch_size=BATCH, shuffle=shuffle),
                ),
            ):
                seconds = run(layer, args.batches)
                rate = args.batches * BATCH / seconds
                flag = "ok" if rate >= 50_000 else "BELOW 50,000"
                print(f"   {label:<19s} shuffle={shuffle!s:<5s} {rate:>12,.0f} images/s  {flag}")

        compute = args.compute_ms / 1000
        chunk = 4 * BATCH
        print(
            f"\n2. hiding reads behind {args.compute_ms:g} ms of compute per batch "
            f"(big-file mode: chunks of {chunk} samples, shuffled)"
        )
        saved = hdf5_data.SYNC_CHUNK_BYTES
        hdf5_data.SYNC_CHUNK_BYTES = chunk * 784 * 4
        try:
            sync_layer = HDF5DataLayer(source=source, batch_size=BATCH, shuffle=True)
            async_layer = AsyncHDF5DataLayer(
                source=source, batch_size=BATCH, shuffle=True, chunk_size=chunk, prefetch=4
            )
            read = run(sync_layer, args.batches)
            sync_total = run(sync_layer, args.batches, compute)
            async_total = run(async_layer, args.batches, compute)
        finally:
            hdf5_data.SYNC_CHUNK_BYTES = saved
        start = time.perf_counter()
        for _ in range(args.batches):
            time.sleep(compute)
        compute_total = time.perf_counter() - start  # sleeps overshoot: measure them
        hidden = (sync_total - async_total) / read if read > 0 else float("nan")
        print(
            f"   reading alone (sync)       {read:8.3f} s  "
            f"({1000 * read / args.batches:.3f} ms/batch)"
        )
        print(f"   compute alone (sleep)      {compute_total:8.3f} s")
        print(f"   sync  read + compute       {sync_total:8.3f} s")
        print(f"   async read + compute       {async_total:8.3f} s")
        print(f"   ratio sync/async           {sync_total / async_total:8.2f}x")
        print(
            f"   async / compute alone      {async_total / compute_total:8.2f}x  "
            f"(1.00 = reading fully hidden)"
        )
        print(f"   share of read time hidden  {100 * hidden:7.1f} %")


if __name__ == "__main__":
    main()
