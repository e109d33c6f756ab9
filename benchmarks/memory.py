"""Peak resident memory of ``%%train`` vs the ``fit`` a user writes (docs/reference.md#budgets).

Each run starts a fresh ipykernel (overhead.py's :class:`~overhead.Kernel`), imports Keras (and,
for ``%%train``, loads nbml), makes the data (``x`` uniform float32 in [0, 1), ``y`` integers
0..9, fixed seed; 60,000 x 784 by default, times each ``--sizes`` factor in rows), collects
garbage, reads the kernel's resident memory (``VmRSS`` of ``/proc/self/status``), resets its
peak (writing ``5`` to ``/proc/self/clear_refs`` resets ``VmHWM``) and runs one cell:

- ``fit``: build the reference MLP, ``model.compile(adam, sparse categorical cross-entropy,
  accuracy)``, ``model.fit(x, y, validation_split=0.2, epochs=2, batch_size=32, verbose=0)``;
- ``train``: ``%%train bench --data bench_data --epochs 2 --batch-size 32`` with every other
  default (the live monitor, a 0.2 test split held out for ``%evaluate``, a 0.2 validation
  split), whose body returns the same uncompiled model.

The peak (``VmHWM`` after the cell) less the resident memory before it is the cell's "peak above
before". Budgets: ``train``'s peak <= 1.30 x ``fit``'s at the first size, and ``train``'s extra
above ``fit`` grows by at most the data's own size (``x.nbytes + y.nbytes`` at the first size)
when the data doubles. Every size and variant runs ``--runs`` times (default 3), each in its own
kernel; the medians are compared.

``--phases`` (on by default) adds one ``%%train`` run per size in which nbml's steps are
wrapped: for each, the resident memory it left behind and its peak above its start (nested
steps reset the peak as they begin and end, so each step's peak is its own), then
``%evaluate`` on the held-out test set. Where the memory goes is what this reports.

Run ``.venv/bin/python benchmarks/memory.py`` (``--help``); results are printed and written to
``benchmarks/results/memory.json``. ``--check`` exits 1 when a budget is missed. Memory numbers
do not depend on the machine's load, unlike times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import DATA, Kernel, finish, model_code, start_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "memory.json"
PEAK_BUDGET = 1.30

PROBE = """\
def _bench_status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) * 1024
def _bench_reset():
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
"""

SETUP = {
    # the backend nbml picks when KERAS_BACKEND is unset (overhead.py's kernel unsets it)
    "fit": "import os\nos.environ['KERAS_BACKEND'] = 'jax'\nimport gc, numpy as np, keras, jax\n",
    "train": "%load_ext nbml\nimport os, gc, numpy as np, keras, jax, nbml\n",
}

CELL = {
    "fit": (
        "model = {model}\n"
        "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
        "metrics=['accuracy'])\n"
        "model.fit(bench_x, bench_y, batch_size={batch_size}, epochs={epochs}, "
        "validation_split=0.2, verbose=0)\n"
    ),
    "train": (
        "get_ipython().run_cell_magic('train', "
        "'bench --data bench_data --epochs {epochs} --batch-size {batch_size}', {model!r})\n"
    ),
}

MEASURED = """\
del bench_wx, bench_wy, bench_warm
gc.collect()
_bench_before = _bench_status('VmRSS')
_bench_reset()
{cell}
_bench_peak = _bench_status('VmHWM')
_bench_after = _bench_status('VmRSS')
"""

#: nbml's steps wrapped by ``--phases`` (module, function, what it is).
PHASES = [
    ("nbml.ml.data", "resolve", "resolve the spec"),
    ("nbml.ml.data", "_part", "checks and dtype conversion"),
    ("nbml.ml.data", "_key", "fingerprint (split reuse)"),
    ("nbml.ml.data", "_split", "split indices (scikit-learn)"),
    ("nbml.ml.data", "_gather", "the parts' rows (one permuted copy)"),
    ("nbml.ml.data", "_prepare", "load, check and split (all of the above but the fingerprint)"),
    ("nbml.ml.preprocessing", "build_layers", "normalisation statistics (adapt)"),
    ("nbml.ml.compiling", "compile_model", "compile"),
    ("nbml.training.loop", "_steps", "build, first compiled step, steps per call"),
    ("nbml.training.loop", "fit", "fit"),
    ("nbml.api", "evaluate", "%evaluate on the test set"),
]

PHASED = """\
import importlib as _il, functools as _ft
_bench_ph, _bench_open = {{}}, []
def _bench_wrap(mod, name):
    owner = _il.import_module(mod)
    f = getattr(owner, name, None)
    if f is None:
        return
    @_ft.wraps(f)
    def g(*a, **k):
        hwm = _bench_status('VmHWM')
        for p in _bench_open:
            p['peak'] = max(p['peak'], hwm)
        start = _bench_status('VmRSS')
        p = {{'name': name, 'start': start, 'peak': start}}
        _bench_open.append(p)
        _bench_reset()
        try:
            return f(*a, **k)
        finally:
            hwm = _bench_status('VmHWM')
            for q in _bench_open:
                q['peak'] = max(q['peak'], hwm)
            _bench_open.pop()
            end = _bench_status('VmRSS')
            r = _bench_ph.setdefault(name, {{'calls': 0, 'peak_above_start': 0, 'kept': 0}})
            r['calls'] += 1
            r['peak_above_start'] = max(r['peak_above_start'], p['peak'] - start)
            r['kept'] += end - start
            _bench_reset()
    setattr(owner, name, g)
for _m, _n in {phases!r}:
    _bench_wrap(_m, _n)
gc.collect()
_bench_before = _bench_status('VmRSS')
_bench_reset()
{cell}
_bench_peak = _bench_status('VmHWM')
_bench_ev = get_ipython().run_line_magic('evaluate', 'bench')
_bench_after = _bench_status('VmRSS')
"""


def one_run(variant: str, config: argparse.Namespace, rows: int, phased: bool = False) -> dict:
    """One fresh kernel: the data, then the measured cell; bytes before, at the peak, after."""
    fields = {
        "model": model_code(config.features),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
    }
    cell = CELL[variant].format(**fields)
    with tempfile.TemporaryDirectory() as cwd:
        kernel = Kernel(cwd, env={"NBML_COMPILE_CACHE": "off"})
        try:
            kernel.ok(SETUP[variant] + PROBE, "setup")
            kernel.ok(DATA.format(seed=0, samples=rows, features=config.features, warm=1), "data")
            code = (
                PHASED.format(cell=cell, phases=[(m, n) for m, n, _ in PHASES])
                if phased
                else MEASURED.format(cell=cell)
            )
            kernel.ok(code, variant)
            out = kernel.value(
                "{'before': _bench_before, 'peak': _bench_peak, 'after': _bench_after, "
                "'data': bench_x.nbytes + bench_y.nbytes}"
            )
            if phased:
                out["phases"] = kernel.value("_bench_ph")
            return out
        finally:
            kernel.shutdown()


def measure(config: argparse.Namespace) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for factor in config.sizes:
        rows = config.samples * factor
        runs: dict[str, list[dict]] = {"fit": [], "train": []}
        for r in range(config.runs):
            for variant in ("fit", "train"):
                out = one_run(variant, config, rows)
                runs[variant].append(out)
                print(
                    f"{rows} rows, run {r + 1}/{config.runs}, {variant}: before "
                    f"{mb(out['before'])}, peak {mb(out['peak'])} "
                    f"(+{mb(out['peak'] - out['before'])})",
                    flush=True,
                )
        entry: dict[str, Any] = {"rows": rows, "data_bytes": runs["fit"][0]["data"], "runs": runs}
        for variant in runs:
            entry[variant] = {
                "peak": statistics.median(o["peak"] for o in runs[variant]),
                "before": statistics.median(o["before"] for o in runs[variant]),
                "above": statistics.median(o["peak"] - o["before"] for o in runs[variant]),
            }
        entry["ratio"] = entry["train"]["peak"] / entry["fit"]["peak"]
        entry["extra"] = entry["train"]["peak"] - entry["fit"]["peak"]
        if config.phases:
            entry["phases"] = one_run("train", config, rows, phased=True)
            print(f"{rows} rows, phases: {entry['phases']['phases']}", flush=True)
        sizes[str(factor)] = entry
    return sizes


def mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def report(sizes: dict[str, Any]) -> list[str]:
    """Print the table; return the budgets missed."""
    print("\n| rows | data | fit: peak (above before) | %%train: peak (above before) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for e in sizes.values():
        f, t = e["fit"], e["train"]
        print(
            f"| {e['rows']:,} | {mb(e['data_bytes'])} | {mb(f['peak'])} (+{mb(f['above'])}) | "
            f"{mb(t['peak'])} (+{mb(t['above'])}) | {e['ratio']:.3f} |"
        )
    for e in sizes.values():
        if "phases" in e:
            print(f"\nwhere it goes, {e['rows']:,} rows (kept / peak above its start):")
            for mod, name, what in PHASES:
                p = e["phases"]["phases"].get(name)
                if p:
                    print(
                        f"  {mod}.{name} ({what}), {p['calls']} call(s): kept "
                        f"{mb(p['kept'])}, peak +{mb(p['peak_above_start'])}"
                    )
    missed = []
    entries = list(sizes.values())
    if entries and entries[0]["ratio"] > PEAK_BUDGET:
        missed.append(f"%%train's peak {entries[0]['ratio']:.3f} x fit's > {PEAK_BUDGET}")
    if len(entries) > 1:
        growth = entries[1]["extra"] - entries[0]["extra"]
        print(
            f"\nextra above fit: {mb(entries[0]['extra'])} -> {mb(entries[1]['extra'])}, "
            f"grew by {mb(growth)}; the data at the first size is {mb(entries[0]['data_bytes'])}"
        )
        if growth > entries[0]["data_bytes"]:
            missed.append("the extra above fit grew by more than the data's own size")
    return missed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60_000, help="rows at size factor 1")
    p.add_argument("--features", type=int, default=784)
    p.add_argument("--sizes", default="1,2", help="row factors, comma-separated (default 1,2)")
    p.add_argument("--runs", type=int, default=3, help="fresh kernels per size and variant")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-phases", dest="phases", action="store_false")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    result = start_result(config)
    result["sizes"] = measure(config)
    return finish(result, config, report(result["sizes"]))


if __name__ == "__main__":
    sys.exit(main())
