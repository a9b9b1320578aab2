"""Data-parallel scaling over MPI: 1 vs 2 ranks (1 thread each), allreduce time and bandwidth.
Run on demand, never as a test (needs the `mpi` extra):

    python benchmarks/mpi_scaling.py                         # LeNet, ranks 1 and 2
    python benchmarks/mpi_scaling.py --net cifar10 --batch 50 --seconds 5 --json out.json

For each number of ranks N the script launches `mpiexec -n N` of itself (OMP, OpenBLAS and
Numba limited to 1 thread per rank). Every rank trains the net on random data with the
per-rank batch `--batch` (global batch N x batch: weak scaling) and reports

* `it_s`: training iterations per second (the solver loop: backward, gradient allreduce,
  update, constraints, forward, loss reduction), `samples_s` = it_s x global batch;
* `allreduce_ms`: time per iteration spent averaging the gradients (buckets, copies included);
* `bandwidth_GBs`: a plain `Allreduce` of the gradient size, timed alone: bytes / time, and
  the "bus bandwidth" 2(N-1)/N x bytes / time that a ring allreduce moves per rank.

The efficiency of N ranks is samples_s(N) / (N x samples_s(1)). See benchmarks/README.md for
the model that projects it to 8 and 64 nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def child(args: argparse.Namespace) -> None:
    import numpy as np
    from lenet import NETS, _data, _mocha_layers
    from mpi4py import MPI

    import mocha
    import mocha.distributed
    from mocha.core.parallel import parallel_of
    from mocha.core.solver import apply_constraints

    comm = MPI.COMM_WORLD
    size = comm.Get_size()
    backend = mocha.make_backend(args.backend)
    mocha.init(backend)
    if size > 1:
        mocha.distributed.enable(backend, bucket_mb=args.bucket_mb, check_every=0)
    x, y = _data(NETS[args.net]["shape"], n=max(1024, 4 * args.batch * size))
    net = mocha.Net(
        "train",
        backend,
        [
            mocha.MemoryDataLayer(
                name="data", data=[x, y], batch_size=args.batch * size, shuffle=True
            ),
            *_mocha_layers(args.net),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["out", "label"]),
        ],
    )
    params = mocha.make_solver_parameters(
        mocha.SGD(), max_iter=1, regu_coef=0.0005, mom_policy=mocha.MomPolicy.Fixed(0.9)
    )
    solver = mocha.Solver(mocha.SGD(), params)
    state = mocha.solve(solver, net)
    parallel = parallel_of(backend)

    def step() -> None:  # the body of solve()'s loop, hooks included
        state.iter += 1
        net.backward(0.0005)
        parallel.after_backward(solver, net, state)
        solver.method.update(solver, net, state)
        apply_constraints(net, state.iter)
        state.obj_val = net.forward(0.0005)
        parallel.after_forward(solver, net, state)

    for _ in range(3):
        step()
    n_params = sum(int(p.blob.data.size) for _, p in net.parameters())
    comm.Barrier()
    start_reduce = getattr(parallel, "allreduce_seconds", 0.0)
    n, t0 = 0, time.perf_counter()
    while True:  # every rank runs the same number of iterations (rank 0 decides when to stop)
        step()
        n += 1
        done = comm.bcast(time.perf_counter() - t0 >= args.seconds and n >= 5, root=0)
        if done:
            break
    elapsed = time.perf_counter() - t0
    reduce_s = getattr(parallel, "allreduce_seconds", 0.0) - start_reduce
    grad = np.ones(n_params, dtype=backend.dtype)
    comm.Allreduce(MPI.IN_PLACE, grad)
    reps, t1 = 20, time.perf_counter()
    for _ in range(reps):
        comm.Allreduce(MPI.IN_PLACE, grad)
    t_ar = (time.perf_counter() - t1) / reps
    if comm.Get_rank() == 0:
        print(
            json.dumps(
                {
                    "net": args.net,
                    "backend": type(backend).__name__,
                    "ranks": size,
                    "batch_per_rank": args.batch,
                    "n_params": n_params,
                    "grad_bytes": grad.nbytes,
                    "it_s": n / elapsed,
                    "samples_s": n / elapsed * args.batch * size,
                    "allreduce_ms": 1e3 * reduce_s / n,
                    "plain_allreduce_ms": 1e3 * t_ar,
                    "bandwidth_GBs": grad.nbytes / t_ar / 1e9,
                    "bus_bandwidth_GBs": 2 * (size - 1) / size * grad.nbytes / t_ar / 1e9,
                }
            ),
            flush=True,
        )


def parent(args: argparse.Namespace) -> None:
    from mocha.distributed import find_mpiexec

    mpiexec = find_mpiexec()
    if mpiexec is None:
        sys.exit('no mpiexec found: pip install "mocha-dl[mpi]"')
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
        OPENBLAS_THREAD_TIMEOUT="4",
    )
    rows = []
    for ranks in args.ranks:
        cmd = [
            mpiexec,
            "-n",
            str(ranks),
            sys.executable,
            __file__,
            "--child",
            "--net",
            args.net,
            "--backend",
            args.backend,
            "--batch",
            str(args.batch),
            "--seconds",
            str(args.seconds),
            "--bucket-mb",
            str(args.bucket_mb),
        ]
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if run.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{run.stderr}")
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    base = rows[0]["samples_s"] / rows[0]["ranks"]
    print(
        f"{'net':8} {'ranks':>5} {'batch/rank':>10} {'it/s':>7} {'samples/s':>10} "
        f"{'allreduce ms/it':>15} {'plain allreduce ms':>18} {'bus GB/s':>8} {'efficiency':>10}"
    )
    for r in rows:
        r["efficiency"] = r["samples_s"] / (r["ranks"] * base)
        print(
            f"{r['net']:8} {r['ranks']:>5} {r['batch_per_rank']:>10} {r['it_s']:>7.2f} "
            f"{r['samples_s']:>10.1f} {r['allreduce_ms']:>15.3f} "
            f"{r['plain_allreduce_ms']:>18.3f} {r['bus_bandwidth_GBs']:>8.2f} "
            f"{r['efficiency']:>10.2f}"
        )
    print(
        f"parameters: {rows[0]['n_params']:,} ({rows[0]['grad_bytes'] / 1e6:.2f} MB of "
        f"gradients); compute per sample on 1 rank: {1e3 / rows[0]['samples_s']:.3f} ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=["lenet", "cifar10"], default="lenet")
    parser.add_argument("--backend", default="numba")
    parser.add_argument("--batch", type=int, default=64, help="per-rank batch size")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--bucket-mb", type=float, default=4.0)
    parser.add_argument("--json", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    (child if args.child else parent)(args)


if __name__ == "__main__":
    main()
