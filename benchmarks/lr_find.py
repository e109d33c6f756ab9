"""The learning-rate finder's cost (docs/reference.md#budgets): ``%%lr_find`` on the reference
workload against one epoch of ``model.fit``. Budget: the finder takes at most one epoch of
training time plus 1 s.

One real ipykernel (``KERAS_BACKEND`` unset, so nbml picks jax; :class:`overhead.Kernel`) gets
the reference workload's data (60,000 x 784 float32 uniform in [0, 1), 10 classes, fixed
seed). Each round times, in an order that alternates from round to round:

- ``fit_1_epoch``: build the MLP 784-128-10, ``compile('adam', sparse categorical
  cross-entropy, accuracy)``, ``model.fit(x, y, batch_size=32, epochs=1,
  validation_split=0.2, verbose=0)``: one epoch of the row-one training, JIT included;
- ``lr_find``: ``%%lr_find bench --data bench_data --batch-size 32 --test-split 0
  --validation-split 0.2`` with a cell body that returns the same uncompiled MLP: everything the
  cell does (the data split, compiling, 100 batches at growing rates, putting the model back,
  the chart widget) as ``get_ipython().run_cell_magic('lr_find', ...)``.

Both build a fresh model each round, so both pay the same compilation. Timing is wall time inside
the kernel (``gc.collect()``, then ``time.perf_counter()`` around the work). Before the rounds,
each runs once untimed on 2,000 rows. Reported: the median seconds of each over the rounds with a
95 % bootstrap interval, the median per-round margin ``lr_find - fit_1_epoch`` (budget: <= 1 s),
and (from one more, untimed finder run after round 1) the batches trained and the suggestion.

Run ``.venv/bin/python benchmarks/lr_find.py`` (``--help``); results are printed and written to
``benchmarks/results/lr_find.json``; ``--check`` exits 1 when the budget is missed. Smoke run:
``.venv/bin/python benchmarks/lr_find.py --rounds 1 --samples 6000``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import DATA, SETUP, Kernel, bootstrap_median, model_code, timed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "lr_find.json"
#: The finder takes at most one epoch of training plus this many seconds
#: (docs/reference.md#budgets).
MARGIN_BUDGET_S = 1.0
VARIANTS = ("fit_1_epoch", "lr_find")

FIT = (
    "model = {model}\n"
    "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
    "metrics=['accuracy'])\n"
    "model.fit({x}, {y}, batch_size={batch_size}, epochs=1, validation_split=0.2, verbose=0)\n"
)
FIND = (
    "get_ipython().run_cell_magic('lr_find', "
    "'bench --data {data} --batch-size {batch_size} --test-split 0 --validation-split 0.2', "
    "{model!r})\n"
)


def cells(config: argparse.Namespace, x: str, y: str, data: str) -> dict[str, str]:
    model = model_code(config.features)
    fields = {"model": model, "x": x, "y": y, "data": data, "batch_size": config.batch_size}
    return {"fit_1_epoch": FIT.format(**fields), "lr_find": FIND.format(**fields)}


def run(config: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nbml-bench-lr-find-") as cwd:
        kernel = Kernel(cwd)
        try:
            return _run_in(kernel, config)
        finally:
            kernel.shutdown()


def _run_in(kernel: Kernel, config: argparse.Namespace) -> dict[str, Any]:
    kernel.ok(SETUP, "setup")
    kernel.ok("get_ipython().run_line_magic('config', \"NbmlMagics.store_path = ''\")")
    warm = min(config.warmup_samples, config.samples)
    kernel.ok(
        DATA.format(seed=0, samples=config.samples, features=config.features, warm=warm), "data"
    )
    env = kernel.value("sys.modules['keras'].backend.backend()")
    for code in cells(config, "bench_wx", "bench_wy", "bench_warm").values():
        kernel.ok(code, "warm-up")
    timed_cells = cells(config, "bench_x", "bench_y", "bench_data")
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    findings = []
    for r in range(config.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            kernel.ok(timed(timed_cells[variant]), variant)
            seconds[variant].append(float(kernel.value("_bench_dt")))
        if r == 0:  # untimed: what the finder finds on this workload (the same model, again)
            kernel.ok("_f = nbml.lr_find('bench', steps=100)")
            findings.append(kernel.value("(len(_f.lrs), _f.suggestion)"))
        print(
            f"round {r + 1}: fit 1 epoch {seconds['fit_1_epoch'][-1]:.3f} s, "
            f"lr_find {seconds['lr_find'][-1]:.3f} s",
            flush=True,
        )
    margins = [f - e for f, e in zip(seconds["lr_find"], seconds["fit_1_epoch"], strict=True)]
    return {
        "backend": env,
        "config": vars(config) | {"output": str(config.output)},
        "machine": platform.platform(),
        "seconds": seconds,
        "medians": {v: statistics.median(s) for v, s in seconds.items()},
        "ci95": {v: bootstrap_median(s) for v, s in seconds.items()},
        "margin_median": statistics.median(margins),
        "margin_ci95": bootstrap_median(margins),
        "findings": findings,
    }


def report(result: dict[str, Any]) -> list[str]:
    med, ci = result["medians"], result["ci95"]
    lines = [f"backend {result['backend']}, {len(result['seconds']['lr_find'])} rounds"]
    for v in VARIANTS:
        lines.append(f"{v:12s} median {med[v]:.3f} s [95% {ci[v][0]:.3f}, {ci[v][1]:.3f}]")
    lo, hi = result["margin_ci95"]
    lines.append(
        f"lr_find - fit_1_epoch: median {result['margin_median']:+.3f} s [95% {lo:+.3f}, "
        f"{hi:+.3f}] (budget <= +{MARGIN_BUDGET_S:.1f} s)"
    )
    batches = sorted({b for b, _ in result["findings"]})
    rates = [s for _, s in result["findings"] if s is not None]
    lines.append(
        f"finder batches {batches}, suggestions {min(rates):.3g}..{max(rates):.3g}"
        if rates
        else f"finder batches {batches}, no suggestion"
    )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    p.add_argument("--samples", type=int, default=60_000, help="rows of data (default 60000)")
    p.add_argument("--features", type=int, default=784, help="columns of data (default 784)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--warmup-samples", type=int, default=2_000, help="untimed warm-up rows")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    p.add_argument("--check", action="store_true", help="exit 1 if the budget is missed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    result = run(config)
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(json.dumps(result, indent=2))
    for line in report(result):
        print(line)
    missed = result["margin_median"] > MARGIN_BUDGET_S
    if missed:
        print(f"BUDGET MISSED: the finder took more than one epoch + {MARGIN_BUDGET_S:.0f} s")
    return 1 if config.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
