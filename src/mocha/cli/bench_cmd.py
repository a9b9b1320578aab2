"""`mocha bench`: training speed as a user gets it, against PyTorch when it is installed.

    mocha bench                                  # LeNet, 1, 2 and default threads, vs PyTorch
    mocha bench --busy 1                         # ... with one competing busy process
    mocha bench --net cifar10 --iters 50
    mocha bench --threads 2 --compare none --json out.json
    mocha bench --net lenet,cifar10 --repeat 3     # best of 3 runs of every configuration

Each (framework, thread count) runs in a fresh subprocess (`mocha.cli._bench_child`, whose
docstring says what is measured): Mocha through `DefaultBackend(threads=T)` (T "default":
`DefaultBackend()`, whose adaptive thread count the output explains), a
`MemoryDataLayer` and `solve()`, PyTorch with the same net and SGD loop. LeNet trains at batch
64 on real MNIST digits (`--mnist DIR`, else $MOCHA_MNIST_DIR, else `shared/data/mnist` beside
the repository; synthetic digits-shaped data when none is found, and the table says so);
the CIFAR-10 "full" net at batch 100 on synthetic CIFAR-shaped data. The table gives
iterations/second and the ratio to PyTorch, the share of the T-thread sgemm ceiling that
Mocha's training reaches (3 × the forward FLOPs of the convolutions and inner products per
iteration), solve()'s own loop overhead, the first iteration (from the process's start), peak
RSS and batch-1 latency, then the environment: BLAS kernel and thread pools (threadpoolctl).

The children's environment is the user's, except that OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
(which pin an old OpenBLAS kernel on some machines) are removed for every framework alike; the
output says when that happened. Nothing else is set: no thread variable, no OpenBLAS timeout.
No timing here is ever asserted by a test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from mocha.cli.app import fail
from mocha.core.hookspecs import hookimpl

NETS = ("lenet", "cifar10")
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
DEFAULT_ITERS = {"lenet": 300, "cifar10": 40}


def forward_flops(net: str) -> float:
    """Multiply-adds × 2 of one forward pass of the convolutions and inner products."""
    if net == "lenet":  # batch 64
        B = 64
        return 2.0 * B * (20 * 25 * 24 * 24 + 50 * 500 * 8 * 8 + 800 * 500 + 500 * 10)
    B = 100  # conv 5×5 pad 2 at 32², 16², 8²; ip 1024 -> 10
    return 2.0 * B * (32 * 75 * 32 * 32 + 32 * 800 * 16 * 16 + 64 * 800 * 8 * 8 + 1024 * 10)


def find_mnist(given: Path | None) -> str | None:
    """The folder of the MNIST IDX files: `given`, $MOCHA_MNIST_DIR, or shared/data/mnist
    beside the repository or the current folder."""
    here = Path(__file__).resolve()
    candidates = [given] if given else []
    if os.environ.get("MOCHA_MNIST_DIR"):
        candidates.append(Path(os.environ["MOCHA_MNIST_DIR"]))
    candidates += [
        here.parents[3].parent / "shared" / "data" / "mnist",
        Path.cwd().parent / "shared" / "data" / "mnist",
    ]
    for c in candidates:
        if (
            c is not None
            and (c / "train-images-idx3-ubyte.gz").exists()
            or (c is not None and (c / "train-images-idx3-ubyte").exists())
        ):
            return str(c)
    return None


def run_child(
    spec: dict[str, Any], timeout: float, module: str = "mocha.cli._bench_child"
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    cmd = [sys.executable, "-m", module, json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise fail(
            f"{spec['framework']} at {spec['threads']} thread(s) took over "
            f"{timeout:.0f} s; use fewer --iters",
            code=1,
        ) from None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise fail(f"{spec['framework']} at {spec['threads']} thread(s) failed:\n{tail}", code=1)


#: Which of two runs' values is the better one, per measured column.
BEST = {
    "train_it_s": max,
    "sgemm_gflops": max,
    "first_iter_s": min,
    "peak_rss_mb": min,
    "latency_ms": min,
}


def best(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """`new` with each measured column replaced by the better of `old`'s and `new`'s (the
    loop breakdown follows the better training speed)."""
    if old is None:
        return new
    out = dict(new)
    for key, pick in BEST.items():
        if key in new:
            out[key] = pick(old[key], new[key])
    if "loop" in new and old["train_it_s"] > new["train_it_s"]:
        out["loop"] = old["loop"]
    out["runs"] = old.get("runs", 1) + 1
    return out


def _ratio(value: float, ref: float | None, higher_is_better: bool) -> str:
    if not ref or not value:
        return ""
    r = value / ref if higher_is_better else ref / value
    return f" ({r:.2f}×)"


def _order(T: int | str) -> int:
    """Thread counts in order, "default" last."""
    return T if isinstance(T, int) else 1 << 20


def _threads_cell(T: int | str, r: dict[str, Any]) -> str:
    """The threads column: the count, or "default → N" with the count the default chose."""
    if T != "default":
        return str(T)
    pools = r.get("pools", {})
    now = pools.get("adaptive", {}).get("threads_now", pools.get("threads", "?"))
    return f"default → {now}"


def default_lines(results: dict[tuple[str, Any], dict[str, Any]]) -> list[str]:
    """What Mocha's default thread count chose and why (its `thread_info()`)."""
    r = results.get(("mocha", "default"))
    if r is None:
        return []
    pools = r.get("pools", {})
    line = f"mocha default: {pools.get('threads')} thread(s) ({pools.get('why', '')})"
    a = pools.get("adaptive")
    if a:
        line += (
            f"; adaptive, at the end: {a['threads_now']} thread(s), {a['why']}; "
            f"{100 * a['calls_at_T_share']:.0f}% of {a['regions']} regions' calls at "
            f"{pools.get('threads')}, {a['probes']} probe(s)"
        )
    return [line]


def start_busy(count: int) -> list[subprocess.Popen]:
    """`count` competing processes, each a busy Python loop (a loaded machine)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def table(net: str, results: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    """The Markdown table of one net's results (ratios vs PyTorch at the same threads: > 1 is
    better for Mocha)."""
    flops = 3 * forward_flops(net)
    lines = [
        "| framework | threads | train it/s | sgemm ceiling | loop overhead | "
        "1st iter s | peak RSS MB | batch-1 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (fw, T), r in sorted(results.items(), key=lambda kv: (_order(kv[0][1]), kv[0][0])):
        ref = (results.get(("torch", T)) if fw == "mocha" else None) or {}
        get = ref.get
        if fw == "mocha":
            share = r["train_it_s"] * flops / (r["sgemm_gflops"] * 1e9)
            ceiling = f"{100 * share:.0f}% of {r['sgemm_gflops']:.0f} GFLOP/s"
            overhead = f"{100 * r['loop']['overhead_fraction']:.2f}%"
        else:
            ceiling = overhead = "—"
        lines.append(
            f"| {'mocha' if fw == 'mocha' else 'pytorch'} | {_threads_cell(T, r)} "
            f"| {r['train_it_s']:.1f}{_ratio(r['train_it_s'], get('train_it_s'), True)} "
            f"| {ceiling} | {overhead} "
            f"| {r['first_iter_s']:.2f}{_ratio(r['first_iter_s'], get('first_iter_s'), False)} "
            f"| {r['peak_rss_mb']:.0f}{_ratio(r['peak_rss_mb'], get('peak_rss_mb'), False)} "
            f"| {r['latency_ms']:.2f}{_ratio(r['latency_ms'], get('latency_ms'), False)} |"
        )
    return lines


def environment(results: dict[tuple[str, int], dict[str, Any]], unset: list[str]) -> list[str]:
    lines = [
        f"machine: {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} available "
        f"to this process; Python {sys.version.split()[0]}"
    ]
    for (fw, T), r in sorted(results.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]))):
        pools = ", ".join(
            " ".join(
                str(v)
                for v in (
                    i["internal_api"],
                    i.get("version"),
                    i.get("architecture"),
                    i.get("library"),
                )
                if v
            )
            + f" x{i['num_threads']}"
            for i in r["env"]
        )
        extra = ""
        pool = r.get("pools", {})
        if "numba_threads" in pool:
            extra = f"; numba x{pool['numba_threads']} ({pool['threading_layer'] or 'no pool yet'})"
        if "device_name" in pool:
            extra += f"; CUDA device {pool['device']}: {pool['device_name']}"
        lines.append(f"{fw} {T if T == 'default' else f'{T}t'} [{r['backend']}]: {pools}{extra}")
    lines.append(
        "unset for every framework: "
        + (", ".join(unset) if unset else "nothing (OPENBLAS_CORETYPE/L2_SIZE not set)")
    )
    return lines


def bench(
    net: Annotated[str, typer.Option(help="lenet or cifar10 (or both: lenet,cifar10).")] = "lenet",
    threads: Annotated[
        str,
        typer.Option(
            help="Thread counts, comma-separated; 'default' for the backend's (and "
            "PyTorch's) default."
        ),
    ] = "1,2,default",
    busy: Annotated[
        int,
        typer.Option(min=0, help="Competing busy processes to run during the measurements."),
    ] = 0,
    compare: Annotated[
        str, typer.Option(help="torch (when installed; the default) or none.")
    ] = "torch",
    iters: Annotated[
        int | None,
        typer.Option(min=1, help="Timed training iterations (default: lenet 300, cifar10 40)."),
    ] = None,
    mnist: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the MNIST IDX files (default: $MOCHA_MNIST_DIR or "
            "shared/data/mnist beside the repository)."
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run every configuration R times and keep the best of each column "
            "(the machine may be shared).",
        ),
    ] = 1,
    as_json: Annotated[
        Path | None, typer.Option("--json", help="Also write the raw results to this JSON file.")
    ] = None,
    torch_device: Annotated[
        str, typer.Option(help="Where PyTorch runs: cpu, or cuda (eager, against a GPU backend).")
    ] = "cpu",
) -> None:
    """Measure training (through solve()) and batch-1 latency against PyTorch, each
    configuration in a fresh process. Numbers depend on the machine and its load."""
    from mocha.cli._bench_big import BIG_NETS

    nets = [n.strip() for n in net.split(",") if n.strip()]
    big = [n for n in nets if n in BIG_NETS]
    nets = [n for n in nets if n not in BIG_NETS]
    bad = [n for n in nets if n not in NETS]
    if bad or not (nets or big):
        raise fail(f"--net {net!r}: choose from {', '.join((*NETS, *BIG_NETS))}")
    counts: list[int | str] = []
    for t in (t.strip() for t in threads.split(",") if t.strip()):
        if t == "default":
            counts.append(t)
        elif t.isdigit() and int(t) >= 1:
            counts.append(int(t))
        else:
            raise fail(f"--threads {threads!r}: give thread counts >= 1 or default, e.g. 1,2")
    if not counts:
        raise fail(f"--threads {threads!r}: give thread counts >= 1 or default, e.g. 1,2")
    if compare not in ("torch", "none"):
        raise fail(f"--compare {compare!r}: choose torch or none")
    if torch_device not in ("cpu", "cuda"):
        raise fail(f"--torch-device {torch_device!r}: choose cpu or cuda")
    missing = [m for m in ("torch", "onnxruntime") if importlib.util.find_spec(m) is None]
    if big and compare == "torch" and missing:
        raise fail(
            f"--net {','.join(big)} compares against PyTorch and onnxruntime; "
            f"{' and '.join(missing)} not installed: pip install torch 'mocha-dl[onnx]' "
            "(or --compare none)"
        )
    frameworks = ["mocha"]
    if compare == "torch":
        if importlib.util.find_spec("torch") is None:
            typer.echo(
                "PyTorch is not installed: measuring Mocha only (pip install torch to compare)",
                err=True,
            )
        else:
            frameworks.append("torch")
    mnist_dir = find_mnist(mnist)
    unset = [k for k in UNSET if k in os.environ]
    load = os.getloadavg()[0]
    typer.echo(
        f"mocha bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average {load:.2f} at start",
        err=True,
    )
    report: dict[str, Any] = {"load_average_start": load, "busy": busy, "nets": {}}
    competing = start_busy(busy)
    if busy:
        typer.echo(f"{busy} competing busy process(es) running", err=True)
    try:
        last = _measure(nets, counts, frameworks, iters, mnist_dir, repeat, report, torch_device)
        if big:
            from mocha.cli._bench_big import measure as measure_big

            fws = ["mocha", "torch", "onnxruntime"] if compare == "torch" else ["mocha"]
            report["nets"].update(measure_big(big, counts, fws, repeat, run_child, typer.echo))
    finally:
        for p in competing:
            p.kill()
            p.wait()
    typer.echo(f"load average {os.getloadavg()[0]:.2f} at the end")
    for line in environment(last, unset):
        typer.echo(line)
    if as_json is not None:
        as_json.write_text(json.dumps(report, indent=1), encoding="utf-8")


def _measure(
    nets: list[str],
    counts: list[int | str],
    frameworks: list[str],
    iters: int | None,
    mnist_dir: str | None,
    repeat: int,
    report: dict[str, Any],
    torch_device: str = "cpu",
) -> dict[tuple[str, Any], dict[str, Any]]:
    """Run every configuration, print each net's table; the last net's results."""
    last: dict[tuple[str, Any], dict[str, Any]] = {}
    for name in nets:
        n_iter = iters or DEFAULT_ITERS[name]
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for rep in range(repeat):
            for T in counts:
                for fw in frameworks:
                    spec = {
                        "framework": fw,
                        "net": name,
                        "threads": T,
                        "iters": n_iter,
                        "mnist_dir": mnist_dir,
                        "samples": 4096,
                        "latency_samples": max(5, min(200, n_iter)),
                        "sgemm_seconds": 0.5 if n_iter >= 20 else 0.05,
                        "torch_device": torch_device,
                    }
                    typer.echo(
                        f"  [{rep + 1}/{repeat}] {name}: {fw} at {T} thread(s), "
                        f"{n_iter} iterations ...",
                        err=True,
                    )
                    r = run_child(spec, timeout=600 + 5 * n_iter)
                    results[(fw, T)] = best(results.get((fw, T)), r)
        data = results[("mocha", counts[0])]["data"]
        typer.echo(
            f"\n{name}: training batch {64 if name == 'lenet' else 100} on {data}, "
            f"{n_iter} timed iterations through solve(), best of {repeat}; ratios vs "
            f"PyTorch at the same thread count, > 1 better for Mocha"
        )
        for line in [*table(name, results), *default_lines(results)]:
            typer.echo(line)
        report["nets"][name] = {f"{fw}/{T}": r for (fw, T), r in results.items()}
        last = results
    return last


@hookimpl
def mocha_register_commands(app: typer.Typer) -> None:
    app.command("bench")(bench)
