"""The run store's cost (issue 5 budgets): training with the store on vs off, and ``%runs``.

**Store overhead.** One real ipykernel (``KERAS_BACKEND`` unset, so nbml picks jax; started
with :class:`overhead.Kernel`) gets the data of the reference workload (60,000 x
784 float32, 10 classes; docs/reference.md#budgets) and trains it with ``%%train ...
--no-widget`` (MLP 784-128-10, batch 32, validation 0.2, 2 epochs) once per variant per round:

- ``store_off``: ``NbmlMagics.store_path = ''`` (runs kept in memory only);
- ``store_on``: ``NbmlMagics.store_path`` = a fresh folder: a run row at start, one committed
  row per epoch, the model serialised at the end and written to ``models/<run_id>.keras``.

The ``%config`` switch runs untimed before each timed cell; the timed cell is the same as
``overhead.py``'s ``nbml_text`` variant (``gc.collect()``, then ``time.perf_counter()`` around
``run_cell_magic('train', ...)``). After a ``store_on`` cell, the time until the writer thread
has committed everything (``Store.flush()``) is measured too, untimed for the ratio. The order
of the variants alternates from round to round; reported: medians over rounds, and the median
of per-round ratios ``store_on / store_off``. Budget: <= 1.01.

**``%runs`` on 10,000 runs.** A store is filled with 10,000 runs (10 epochs each, so 100,000
epoch rows; every 50th run is ``running`` under a pid that no longer exists, so listing also
checks liveness). In the same kernel, ``%config NbmlMagics.store_path`` points at it, and each
repeat times ``get_ipython().run_line_magic('runs', '')`` plus rendering its ``text/html`` and
``text/plain`` (what the notebook receives). The first call (opening the file) is reported on
its own. Budget: median < 0.5 s.

Run ``.venv/bin/python benchmarks/store.py`` (``--help``); results are printed and written to
``benchmarks/results/store.json``. ``--check`` exits 1 when a budget is missed. Smoke run:
``.venv/bin/python benchmarks/store.py --rounds 1 --samples 6000 --epochs 1 --runs 2000``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from overhead import DATA, SETUP, Kernel, template_fields, timed  # noqa: E402

from nbml.store import liveness, schema  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
RATIO_BUDGET = 1.01
RUNS_BUDGET_S = 0.5
VARIANTS = ("store_off", "store_on")


def fill(folder: Path, runs: int, epochs: int = 10, seed: int = 0) -> None:
    """Write ``runs`` finished-looking runs with ``epochs`` epoch rows each into ``folder``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    db = schema.connect(str(folder / "runs.sqlite"))
    t0 = time.time() - runs * 60
    run_rows, epoch_rows = [], []
    for i in range(runs):
        run_id = f"{i:08x}"
        logs = {}
        for e in range(epochs):
            logs = {
                "loss": 2.3 / (e + 1) + rng.random() * 0.1,
                "accuracy": 1 - 0.9 / (e + 1),
                "val_loss": 2.4 / (e + 1),
                "val_accuracy": 1 - 0.95 / (e + 1),
            }
            epoch_rows.append((run_id, e, json.dumps(logs), t0 + i * 60 + e, 1.0))
        params = {
            "epochs": epochs, "batch_size": rng.choice([32, 64, 128]), "optimizer": "adam",
            "lr": rng.choice([1e-3, 3e-4]), "loss": "sparse_categorical_crossentropy",
            "task": "classification", "validation_split": 0.2, "test_split": 0.2, "seed": 0,
            "normalize": "minmax", "augment": None, "early_stopping": None, "reset": False,
        }  # fmt: skip
        running = i % 50 == 49
        run_rows.append(
            (
                run_id, f"model{i % 20}", "running" if running else "finished", epochs, epochs,
                json.dumps(params), "sklearn:digits", json.dumps(logs), json.dumps(logs), "",
                t0 + i * 60, None if running else t0 + i * 60 + epochs, "jax", "cpu:0", "0.1.0",
                "3", liveness.HOST, 2**22 + 1, None, t0 + i * 60 + epochs, None,
            )
        )  # fmt: skip
    marks = ",".join("?" * 21)
    db.execute("BEGIN IMMEDIATE")
    db.executemany(f"INSERT INTO runs ({schema.COLUMNS}) VALUES ({marks})", run_rows)
    db.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?, ?)", epoch_rows)
    db.execute("COMMIT")
    db.close()


FLUSH = """\
import time as _tm
_t = _tm.perf_counter()
assert nbml.store.current().flush(60)
_flush_dt = _tm.perf_counter() - _t
"""

RUNS_TIMED = """\
import gc as _gc, time as _time
_gc.collect()
_t0 = _time.perf_counter()
_table = get_ipython().run_line_magic('runs', {args!r})
_html, _text = _table._repr_html_(), repr(_table)
_bench_dt = _time.perf_counter() - _t0
_bench_rows = len(_table.rows)
"""


def run(config: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="nbml-bench-store-") as cwd:
        kernel = Kernel(cwd)
        try:
            return _run_in(kernel, Path(cwd), config)
        finally:
            kernel.shutdown()


def _use(kernel: Kernel, path: str) -> None:
    kernel.ok(f"get_ipython().run_line_magic('config', \"NbmlMagics.store_path = {path!r}\")")


def _run_in(kernel: Kernel, cwd: Path, config: argparse.Namespace) -> dict[str, Any]:
    kernel.ok(SETUP, "setup")
    warm = min(config.warmup_samples, config.samples)
    kernel.ok(
        DATA.format(seed=0, samples=config.samples, features=config.features, warm=warm), "data"
    )
    full = template_fields(config, {"x": "bench_x", "y": "bench_y", "data": "bench_data"})
    small = template_fields(config, {"x": "bench_wx", "y": "bench_wy", "data": "bench_warm"})
    cell = "get_ipython().run_cell_magic('train', {line!r}, {model!r})\n"
    store = str(cwd / "train-store")
    paths = {"store_off": "", "store_on": store}
    out: dict[str, Any] = {"rounds": []}
    for name in VARIANTS:  # one-time costs (imports, JIT, opening the store) stay out
        _use(kernel, paths[name])
        fields = {"line": small["train_line"] + " --no-widget", "model": small["model"]}
        kernel.ok(cell.format(**fields), f"{name} warm-up")
    code = timed(cell.format(line=full["train_line"] + " --no-widget", model=full["model"]))
    for r in range(config.rounds):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        row: dict[str, Any] = {"order": list(order), "seconds": {}}
        for name in order:
            _use(kernel, paths[name])
            kernel.ok(code, name)
            row["seconds"][name] = kernel.value("_bench_dt")
            if name == "store_on":
                kernel.ok(FLUSH, "flush")
                row["flush_s"] = kernel.value("_flush_dt")
        row["ratio"] = row["seconds"]["store_on"] / row["seconds"]["store_off"]
        out["rounds"].append(row)
        print(
            f"round {r + 1}/{config.rounds}: off {row['seconds']['store_off']:.3f}s  on "
            f"{row['seconds']['store_on']:.3f}s  ratio {row['ratio']:.4f}  "
            f"(writer done {row['flush_s'] * 1000:.1f} ms after the cell)",
            flush=True,
        )
    _use(kernel, store)
    out["stored_runs_epochs"] = kernel.value(
        "[(r.status, r.epoch) for r in nbml.runs() if r.name == 'bench'][-1]"
    )
    for name in VARIANTS:
        out[name] = statistics.median(row["seconds"][name] for row in out["rounds"])
    out["ratio"] = statistics.median(row["ratio"] for row in out["rounds"])

    t = time.perf_counter()
    big = cwd / "big-store"
    fill(big, config.runs)
    out["fill_s"] = time.perf_counter() - t
    _use(kernel, str(big))
    listing: dict[str, Any] = {"runs": config.runs, "samples_s": {}}
    for args in ("", "--all"):
        samples = []
        for _ in range(config.runs_repeats if args == "" else 1):
            kernel.ok(RUNS_TIMED.format(args=args), f"%runs {args}")
            samples.append(kernel.value("_bench_dt"))
        listing["samples_s"][args or "default"] = samples
        listing[f"rows_{args or 'default'}"] = kernel.value("_bench_rows")
    default = listing["samples_s"]["default"]
    listing["first_s"] = default[0]
    listing["median_s"] = statistics.median(default[1:] or default)
    listing["all_s"] = listing["samples_s"]["--all"][0]
    out["runs_listing"] = listing
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (default 20)")
    p.add_argument("--samples", type=int, default=60_000, help="rows of data (default 60000)")
    p.add_argument("--features", type=int, default=784, help="columns of data (default 784)")
    p.add_argument("--epochs", type=int, default=2, help="epochs (default 2)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--validation-split", type=float, default=0.2, help="default 0.2")
    p.add_argument("--warmup-samples", type=int, default=2_000, help="untimed warm-up rows")
    p.add_argument("--runs", type=int, default=10_000, help="runs in the %%runs store")
    p.add_argument("--runs-repeats", type=int, default=7, help="timed %%runs calls (default 7)")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    p.add_argument("--check", action="store_true", help="exit 1 if a budget is missed")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.runs < 1 or args.runs_repeats < 1:
        p.error("--rounds, --runs and --runs-repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.time()
    result: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()},
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }
    result.update(run(config))
    result["wall_s"] = time.time() - started
    listing = result["runs_listing"]
    print(
        f"\ntraining ({config.samples} x {config.features}, {config.epochs} epoch(s), median of "
        f"{config.rounds}): store off {result['store_off']:.3f}s, on {result['store_on']:.3f}s, "
        f"ratio {result['ratio']:.4f} (budget {RATIO_BUDGET})"
    )
    print(
        f"%runs on {listing['runs']:,} runs: median {listing['median_s'] * 1000:.1f} ms "
        f"({listing['rows_default']} rows shown; first call {listing['first_s'] * 1000:.1f} ms); "
        f"%runs --all ({listing['rows_--all']:,} rows) {listing['all_s'] * 1000:.0f} ms "
        f"(budget {RUNS_BUDGET_S * 1000:.0f} ms for %runs)"
    )
    missed = []
    if result["ratio"] > RATIO_BUDGET:
        missed.append(f"store_on / store_off = {result['ratio']:.4f} > {RATIO_BUDGET}")
    if listing["median_s"] > RUNS_BUDGET_S:
        missed.append(f"%runs {listing['median_s']:.3f}s > {RUNS_BUDGET_S}s")
    result["budgets_missed"] = missed
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {config.output}")
    if missed:
        print("budgets missed: " + "; ".join(missed))
    return 1 if config.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
