"""Data parallel over 2 virtual CPU devices vs 1 device, on the reference workload
(docs/reference.md#budgets).

One kernel started with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` trains the
workload with ``%%train ... --no-widget`` alternately without and with ``--distribute data``
(median of ``--rounds``). On a 2-core machine no speed-up is expected: the ratio documents the
overhead of the mesh. Where a GPU is available, run it there too and record the date.

Run: ``.venv/bin/python benchmarks/distribute.py``.

``--processes`` compares instead two processes (``python -m nbml.launch --processes 2``, one
CPU device each, JAX's gloo collectives) with one process, the same global batch and data: each
process trains on its half with ``nbml.train(..., distribute="data")``, the one process on all of
it without. Both at one batch per compiled call (``steps_per_execution=1``) and after a one-epoch
warm-up (the compile). Reported: the wall time of the timed ``nbml.train`` in process 0 and the
samples per second (global). On 2 cores the point is the cost of the collectives, not a speed-up
(docs/multihost.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from overhead import Kernel, model_code  # noqa: E402  (the model of docs/reference.md#budgets)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "distribute.json"

# one process of the --processes benchmark: argv samples, features, epochs, batch, model code
WORKER = """
import json, os, sys, time
os.environ.setdefault("KERAS_BACKEND", "jax")
import keras, numpy as np
several = "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ
if several:
    keras.distribution.initialize()
import jax, nbml
me, count = jax.process_index(), jax.process_count()
samples, features, epochs, batch = map(int, sys.argv[1:5])
r = np.random.default_rng(0)
x = r.random((samples, features), dtype=np.float32)
y = r.integers(0, 10, samples)
data = (x[me::count], y[me::count])
opts = dict(batch_size=batch, test_split=0, validation_split=0, display="none",
            steps_per_execution=1, distribute="data" if several else None)
nbml.train("warm", eval(sys.argv[5]), data, epochs=1, **opts)
t0 = time.perf_counter()
nbml.train("bench", eval(sys.argv[5]), data, epochs=epochs, **opts)
dt = time.perf_counter() - t0
if me == 0:
    print("RESULT", json.dumps({"seconds": dt, "processes": count}), flush=True)
"""


def _one_job(cmd: list[str], cwd: str) -> float:
    env = dict(os.environ, NBML_STORE_PATH="")
    env.pop("XLA_FLAGS", None)
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in out.stdout.splitlines() if "RESULT " in ln]
    if out.returncode or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(out.stdout + out.stderr)[-3000:]}")
    return float(json.loads(lines[0].split("RESULT ", 1)[1])["seconds"])


def processes_main(args: argparse.Namespace) -> int:
    """Two processes vs one, the same global batch (see the module)."""
    rows = args.samples - args.samples % 2  # both processes hold as many rows
    argv = [str(rows), str(args.features), str(args.epochs), str(args.batch_size)]
    argv.append(model_code(args.features))
    times: dict[str, list[float]] = {"one_process": [], "two_processes": []}
    with tempfile.TemporaryDirectory(prefix="nbml-procs-") as cwd:
        script = Path(cwd) / "worker.py"
        script.write_text(WORKER)
        jobs = {
            "one_process": [sys.executable, str(script), *argv],
            "two_processes": [sys.executable, "-m", "nbml.launch", "--processes", "2",
                              str(script), *argv],
        }  # fmt: skip
        for r in range(args.rounds):
            order = list(jobs) if r % 2 == 0 else list(reversed(jobs))
            for name in order:
                times[name].append(_one_job(jobs[name], cwd))
            print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
    median = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: rows * args.epochs / v for k, v in median.items()}
    result = {
        "median_s": median,
        "samples_per_s": rate,
        "ratio_median": median["two_processes"] / median["one_process"],
        "load_average": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d"),
        "config": vars(args) | {"output": str(args.output)},
    }
    print(
        f"one process {median['one_process']:.2f}s ({rate['one_process']:.0f} samples/s), "
        f"two processes {median['two_processes']:.2f}s ({rate['two_processes']:.0f} samples/s), "
        f"ratio {result['ratio_median']:.2f}, load average {result['load_average']:.1f}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--samples", type=int, default=60_000)
    p.add_argument("--features", type=int, default=784)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument(
        "--processes", action="store_true",
        help="two processes (python -m nbml.launch) vs one, the same global batch",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.processes:
        if args.output == RESULTS:
            args.output = RESULTS.with_name("distribute_processes.json")
        return processes_main(args)

    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    model = model_code(args.features)
    line = (
        f"bench --data data --epochs {args.epochs} --batch-size {args.batch_size} "
        "--test-split 0 --no-widget"
    )
    variants = {"one_device": line, "data_parallel_2": f"{line} --distribute data"}
    times: dict[str, list[float]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="nbml-dist-") as cwd:
        kernel = Kernel(cwd)
        try:
            kernel.ok(
                "%load_ext nbml\nimport keras, time, numpy as np\n"
                "_r = np.random.default_rng(0)\n"
                f"data = (_r.random(({args.samples}, {args.features}), dtype=np.float32), "
                f"_r.integers(0, 10, {args.samples}))"
            )
            devices = kernel.value("keras.distribution.list_devices()")
            for ln in variants.values():  # warm-up
                kernel.ok(f"get_ipython().run_cell_magic('train', {ln!r}, {model!r})")
            for r in range(args.rounds):
                order = list(variants) if r % 2 == 0 else list(reversed(variants))
                for name in order:
                    code = (
                        "_t0 = time.perf_counter()\n"
                        f"get_ipython().run_cell_magic('train', {variants[name]!r}, {model!r})\n"
                        "_dt = time.perf_counter() - _t0"
                    )
                    kernel.ok(code)
                    times[name].append(kernel.value("_dt"))
                print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        finally:
            kernel.shutdown()
    ratios = [b / a for a, b in zip(times["one_device"], times["data_parallel_2"], strict=True)]
    result = {
        "devices": devices,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "ratio_median": statistics.median(ratios),
        "date": time.strftime("%Y-%m-%d"),
        "config": vars(args) | {"output": str(args.output)},
    }
    print(
        f"devices {devices}: one device {result['median_s']['one_device']:.2f}s, "
        f"data parallel over 2 {result['median_s']['data_parallel_2']:.2f}s, "
        f"ratio {result['ratio_median']:.2f}"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
