"""The model inspector's cost (docs/reference.md#budgets, docs/inspector.md): ``%%train`` at
the inspector's default cadence (a record at the end of every epoch) vs ``--inspect off``.

One real ipykernel per workload (started with :class:`overhead.Kernel`: ``KERAS_BACKEND``
unset, so nbml picks jax; nbml's defaults otherwise: its compile cache in a temporary folder,
the run store in the kernel's temporary working folder) trains

- ``reference``: the reference workload (MLP 784-128-10 on 60,000 x 784 float32, batch 32,
  validation 0.2, 2 epochs: :func:`overhead.model_code`, :data:`overhead.DATA`);
- ``cnn``: 20 layers with weights (19 ``Conv2D(8, 3, padding="same", relu)`` and the
  ``Dense(10, softmax)`` output, a ``Flatten`` between) on 6,000 generated 8 x 8 x 1 images,
  ``--normalize none`` so the model stays as written and every layer's activations are
  recorded too (nbml's image scaling would wrap the model: docs/inspector.md).

Each timed cell is ``get_ipython().run_cell_magic('train', line, model)`` with ``--no-widget``
(the monitor's cost is ``overhead.py``'s), timed inside the kernel as ``overhead.py`` times it
(:func:`overhead.timed`). Rounds are sandwiched: ``off, on, off, on, ..., off``; a round's
ratio is its ``on`` time over the mean of the two ``off`` runs around it, so a slow drift of
the machine cancels out. Reported: the median ratio with its 95 % bootstrap interval
(:func:`overhead.bootstrap_median`), the same for the kernel process's CPU seconds (user and
system, every thread: the work the inspector adds, less sensitive to other processes on the
machine than wall time), the median seconds, the seconds the training thread spent
per record (``run.inspection.seconds``: on JAX copying the weights), each record's own
seconds (``Probe.record``: on JAX on the side thread) and the seconds the side thread spent
making the probe's program beside the first epoch (``Probe.prepare``, timed by wrapping it:
wall time and that thread's CPU time). The kernel keeps a program per architecture, so the
timed runs, like a cell run again, reuse the one the warm-up made; ``--cold`` forgets it
before every inspected run (the cost of a cell's first run in a kernel).
Budget: median <= 1.02 on the reference workload.

Run ``.venv/bin/python benchmarks/inspector.py`` (``--help``); results are printed and written
to ``benchmarks/results/inspector.json``; ``--check`` exits 1 when the budget is missed.
Smoke run: ``.venv/bin/python benchmarks/inspector.py --rounds 1 --samples 3000 --cnn-samples
500 --epochs 1``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import (  # noqa: E402
    DATA,
    SETUP,
    Kernel,
    bootstrap_median,
    finish,
    model_code,
    start_result,
    timed,
)  # fmt: skip

RESULTS = Path(__file__).resolve().parent / "results" / "inspector.json"
RATIO_BUDGET = 1.02  # the reference workload (docs/reference.md#budgets)

CNN_DATA = """\
import numpy as np
_rng = np.random.default_rng({seed})
bench_x = _rng.random(({samples}, {size}, {size}, 1), dtype=np.float32)
bench_y = _rng.integers(0, 10, size={samples})
bench_data = (bench_x, bench_y)
bench_warm = (bench_x[:{warm}], bench_y[:{warm}])
"""

CNN_MODEL = (
    "keras.Sequential([keras.Input(shape=({size}, {size}, 1))] + "
    "[keras.layers.Conv2D({filters}, 3, padding='same', activation='relu') "
    "for _ in range({convs})] + "
    "[keras.layers.Flatten(), keras.layers.Dense(10, activation='softmax')])"
)

#: Wraps ``Probe.prepare`` (the side thread's compile) and ``Probe.record`` (each record's
#: arithmetic: on JAX on the side thread) to time them; untimed set-up.
PREPARE_TIMER = """\
import time as _pt, nbml.ml.inspection as _mi
_bench_prepare, _bench_side = [], []
def _bench_wrap(name, into):
    inner = getattr(_mi.Probe, name)
    def timed(self, *args):
        t, c = _pt.perf_counter(), _pt.thread_time()
        try:
            return inner(self, *args)
        finally:
            into.append((_pt.perf_counter() - t, _pt.thread_time() - c))
    setattr(_mi.Probe, name, timed)
if not hasattr(_mi.Probe, '_bench_timed'):
    _mi.Probe._bench_timed = True
    _bench_wrap('prepare', _bench_prepare)
    _bench_wrap('record', _bench_side)
"""

#: After an ``on`` run: the training thread's seconds per record, the compile beside the first
#: epoch (the first ``prepare``: later calls find it done) and each record's own seconds.
RECORD_TIMES = (
    "(lambda r: {'records': list(r.inspection.seconds), 'prepare': _bench_prepare[:1], "
    "'side': list(_bench_side)})(__import__('nbml').core.registry.REGISTRY.get('bench').run)"
)
CLEAR_TIMES = "_bench_prepare.clear(); _bench_side.clear()"
#: ``--cold``: forget the probe programs of earlier runs (each ``on`` run then traces, lowers
#: and compiles its program beside its first epoch, as the first run of a cell in a kernel).
FORGET = "__import__('nbml.ml.probe_jax').ml.probe_jax._PROGRAMS.clear()"


def workloads(config: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each workload: its data cell, model expression and ``%%train`` line (without
    ``--inspect``)."""
    common = (f"--epochs {config.epochs} --batch-size {config.batch_size} --test-split 0 "
              f"--validation-split {config.validation_split} --no-widget")  # fmt: skip
    warm = min(config.warmup_samples, config.samples)
    ref = {
        "data": DATA.format(seed=config.seed, samples=config.samples, features=784, warm=warm),
        "model": model_code(784),
        "line": f"bench --data {{data}} {common}",
        "what": f"MLP 784-128-10, {config.samples:,} x 784 float32",
    }
    size, convs = config.cnn_size, config.cnn_layers - 1
    cnn_warm = min(config.warmup_samples, config.cnn_samples)
    cnn = {
        "data": CNN_DATA.format(
            seed=config.seed, samples=config.cnn_samples, size=size, warm=cnn_warm
        ),  # fmt: skip
        "model": CNN_MODEL.format(size=size, filters=config.cnn_filters, convs=convs),
        "line": f"bench --data {{data}} {common} --normalize none",
        "what": f"{convs} Conv2D({config.cnn_filters}) + Dense(10), "
        f"{config.cnn_samples:,} x {size}x{size}x1 float32",
    }
    return {name: w for name, w in (("reference", ref), ("cnn", cnn)) if name in config.workloads}


def _cell(work: dict[str, Any], data: str, inspect: str) -> str:
    line = work["line"].format(data=data) + f" --inspect {inspect}"
    return f"get_ipython().run_cell_magic('train', {line!r}, {work['model']!r})\n"


def run_workload(name: str, work: dict[str, Any], config: argparse.Namespace) -> dict[str, Any]:
    """The sandwiched rounds of one workload, in a kernel of its own."""
    with tempfile.TemporaryDirectory(prefix="nbml-bench-inspect-") as cwd:
        kernel = Kernel(cwd, {"NBML_COMPILE_CACHE": os.path.join(cwd, "compile-cache")})
        try:
            kernel.ok(SETUP, "setup")
            kernel.ok(work["data"], "data")
            kernel.ok(PREPARE_TIMER, "prepare timer")
            t = time.perf_counter()
            for inspect in ("off", "1"):  # first imports, backend start, first JIT
                kernel.ok(_cell(work, "bench_warm", inspect), f"{name} warm-up")
            print(f"{name}: warm-up {time.perf_counter() - t:.1f}s", flush=True)
            return _rounds(kernel, name, work, config)
        finally:
            kernel.shutdown()


#: The kernel process's CPU seconds (user + system, every thread), read around a timed cell.
CPU = "sum(__import__('resource').getrusage(__import__('resource').RUSAGE_SELF)[:2])"


def _rounds(kernel: Kernel, name: str, work: dict[str, Any], config: argparse.Namespace
            ) -> dict[str, Any]:  # fmt: skip
    code = {v: f"_bench_c0 = {CPU}\n" + timed(_cell(work, "bench_data", v))
            + f"_bench_cpu = {CPU} - _bench_c0\n" for v in ("off", "1")}  # fmt: skip

    def run(variant: str) -> tuple[float, float]:
        kernel.ok(CLEAR_TIMES + ("; " + FORGET if config.cold else ""), "clear")
        kernel.ok(code[variant], f"{name} --inspect {variant}")
        wall, cpu = kernel.value("(_bench_dt, _bench_cpu)")
        return float(wall), float(cpu)

    off, on, records, prepare, side = [run("off")], [], [], [], []
    for r in range(config.rounds):
        on.append(run("1"))
        times = kernel.value(RECORD_TIMES)
        records.append(times["records"])
        prepare += times["prepare"]
        side += times["side"]
        off.append(run("off"))
        ratio = on[-1][0] / ((off[-2][0] + off[-1][0]) / 2)
        print(f"{name} round {r + 1}/{config.rounds}: on {on[-1][0]:.3f}s, off {off[-2][0]:.3f}s "
              f"/ {off[-1][0]:.3f}s, ratio {ratio:.3f}, records "
              + ", ".join(f"{s * 1000:.1f}" for s in records[-1]) + " ms", flush=True)  # fmt: skip
    return _summary(work, config, on, off, records, prepare, side)


def _ratios(on: list[float], off: list[float], seed: int) -> dict[str, Any]:
    """Each round's ``on`` over the mean of the ``off`` runs around it: median, 95 % interval."""
    ratios = [x / ((a + b) / 2) for x, a, b in zip(on, off, off[1:], strict=False)]
    low, high = bootstrap_median(ratios, seed)
    return {"ratio": statistics.median(ratios), "ratio_ci95": [low, high], "ratios": ratios}


def _summary(work: dict[str, Any], config: argparse.Namespace, on: list[tuple[float, float]],
             off: list[tuple[float, float]], records: list[list[float]],
             prepare: list[list[float]], side: list[list[float]]) -> dict[str, Any]:  # fmt: skip
    wall_on, wall_off = [w for w, _ in on], [w for w, _ in off]
    cpu = _ratios([c for _, c in on], [c for _, c in off], config.seed)
    per_record = [s for rs in records for s in rs]
    return {
        "what": work["what"], "line": work["line"].format(data="bench_data"),
        "model": work["model"], **_ratios(wall_on, wall_off, config.seed),
        "cpu_ratio": cpu["ratio"], "cpu_ratio_ci95": cpu["ratio_ci95"],
        "on_s": wall_on, "off_s": wall_off, "on_cpu_s": [c for _, c in on],
        "off_cpu_s": [c for _, c in off],
        "median_on_s": statistics.median(wall_on), "median_off_s": statistics.median(wall_off),
        "record_s": records, "median_record_s": statistics.median(per_record),
        "max_record_s": max(per_record), "record_share": statistics.median(
            sum(rs) / t for rs, t in zip(records, wall_on, strict=True)),
        "prepare_s": [p[0] for p in prepare], "prepare_cpu_s": [p[1] for p in prepare],
        "median_prepare_s": statistics.median(p[0] for p in prepare) if prepare else None,
        "median_prepare_cpu_s": statistics.median(p[1] for p in prepare) if prepare else None,
        "side_record_s": [p[0] for p in side], "side_record_cpu_s": [p[1] for p in side],
        "median_side_record_s": statistics.median(p[0] for p in side) if side else None,
    }  # fmt: skip


#: The report's columns: medians of the off and on seconds, the ratio and its interval, the
#: training thread's milliseconds per record (median, max) and share of the run, each record's
#: own milliseconds (on JAX on the side thread), the side thread's compile (wall and CPU s).
HEADER = (f"{'workload':<10} {'off s':>7} {'on s':>7} {'ratio':>7} {'95% CI':>17} "
          f"{'ms/record':>10} {'max ms':>7} {'share':>7} {'record ms':>10} {'compile s':>10} "
          f"{'cpu s':>6}")  # fmt: skip


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def report(result: dict[str, Any], config: argparse.Namespace) -> list[str]:
    """Print the table; return the budgets missed."""
    print(f"\ninspector on (every epoch) vs --inspect off: batch {config.batch_size}, "
          f"validation {config.validation_split}, {config.epochs} epoch(s), median of "
          f"{config.rounds} sandwiched round(s)"
          f"{', cold (programs made anew each run)' if config.cold else ''}\n{HEADER}")  # fmt: skip
    missed = []
    for name, w in result["workloads"].items():
        low, high = w["ratio_ci95"]
        print(f"{name:<10} {w['median_off_s']:>7.3f} {w['median_on_s']:>7.3f} {w['ratio']:>7.3f} "
              f"{f'[{low:.3f}, {high:.3f}]':>17} {w['median_record_s'] * 1000:>10.1f} "
              f"{w['max_record_s'] * 1000:>7.1f} {w['record_share']:>7.2%} "
              f"{_ms(w['median_side_record_s']):>10} {_seconds(w['median_prepare_s']):>10} {_seconds(w['median_prepare_cpu_s']):>6}"
              f"\n  {w['what']}; CPU seconds of the kernel process, on / off: "
              f"{w['cpu_ratio']:.3f} [{w['cpu_ratio_ci95'][0]:.3f}, "
              f"{w['cpu_ratio_ci95'][1]:.3f}]")  # fmt: skip
        if name == "reference" and w["ratio"] > RATIO_BUDGET:
            missed.append(f"reference: inspector on / off = {w['ratio']:.3f} > {RATIO_BUDGET}")
    return missed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="sandwiched rounds (default 20)")
    p.add_argument("--workloads", default="reference,cnn", help="reference,cnn (default both)")
    p.add_argument("--samples", type=int, default=60_000, help="reference rows (60000)")
    p.add_argument("--cnn-samples", type=int, default=6_000, help="CNN images (default 6000)")
    p.add_argument("--cnn-size", type=int, default=8, help="CNN image side (default 8)")
    p.add_argument("--cnn-layers", type=int, default=20, help="CNN layers with weights (20)")
    p.add_argument("--cnn-filters", type=int, default=8, help="filters per conv (default 8)")
    p.add_argument("--epochs", type=int, default=2, help="epochs (default 2)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--validation-split", type=float, default=0.2, help="default 0.2")
    p.add_argument("--warmup-samples", type=int, default=2_000, help="warm-up rows (2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file ({RESULTS})")
    budget = f"exit 1 if the reference workload's median ratio > {RATIO_BUDGET}"
    p.add_argument("--check", action="store_true", help=budget)
    p.add_argument(
        "--cold",
        action="store_true",
        help="every inspected run makes its probe program anew (a cell's first run)",
    )
    args = p.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.workloads) - {"reference", "cnn"}
    if unknown or not args.workloads:
        p.error(f"unknown workload(s) {sorted(unknown)}; known: reference, cnn")
    if args.rounds < 1 or args.cnn_layers < 2:
        p.error("--rounds must be at least 1 and --cnn-layers at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.time()
    result = {**start_result(config), "workloads": {}}
    for name, work in workloads(config).items():
        result["workloads"][name] = run_workload(name, work, config)
    result["wall_s"] = time.time() - started
    return finish(result, config, report(result, config))


if __name__ == "__main__":
    sys.exit(main())
