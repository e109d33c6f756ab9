"""Data parallel over 2 virtual CPU devices vs 1 device, on the reference workload
(docs/reference.md#budgets).

One kernel started with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` trains the
workload with ``%%train ... --no-widget`` alternately without and with ``--distribute data``
(median of ``--rounds``). On a 2-core machine no speed-up is expected: the ratio documents the
overhead of the mesh. Where a GPU is available, run it there too and record the date.

Run: ``.venv/bin/python benchmarks/distribute.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from overhead import Kernel, model_code  # noqa: E402  (the model of docs/reference.md#budgets)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "distribute.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--samples", type=int, default=60_000)
    p.add_argument("--features", type=int, default=784)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    import os

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
