"""nbml's training overhead and ``%load_ext`` cost (the budgets of docs/reference.md#budgets).

A real ipykernel (started through jupyter_client, ``KERAS_BACKEND`` unset so nbml picks jax)
trains the reference workload once per variant per round. Every variant builds a fresh model of
the same architecture. In this "main" kernel nbml's compile cache is off
(``NBML_COMPILE_CACHE=off``), so every variant there pays the same JIT compilation as ``fit``:
apples to apples. ``nbml_widget`` (every default of ``%%train``) runs in a second kernel with
the compile cache on, as a user re-running a cell has it, and is compared with the plain
``fit`` of the main kernel.

Each run of a variant is sandwiched between two runs of the baseline ``verbose0``: a round is
``verbose0, A, verbose0, B, verbose0, C, ...`` and the next round's first ``verbose0`` closes the
last sandwich. A variant's ratio in a round is its time over the mean of the two baseline runs
around it, so a slow drift of the machine's speed cancels out; the order of the variants rotates
from round to round. Reported: the median of the per-round ratios, with a 95 % bootstrap
confidence interval of that median (rounds resampled), and the median seconds.

Timing happens inside the kernel: the timed cell runs ``gc.collect()``, then
``t0 = time.perf_counter()``, the variant's work (building the model, and training it with
``model.fit`` or with ``get_ipython().run_cell_magic('train', ...)``), then stores
``time.perf_counter() - t0``. Kernel start-up, the messaging round trip and reading the number
back are outside the timed region. Every message a cell produces on iopub is read (drained) by
this script while the cell runs, as a frontend would, and counted.

Run ``.venv/bin/python benchmarks/overhead.py`` (``--help`` for the options); results are printed
and written to ``benchmarks/results/overhead.json``. ``--check`` exits 1 when a budget is missed.

To add a variant, add an entry to :data:`VARIANTS`: the code it times, with ``str.format`` fields
from :func:`template_fields` (``{x}``, ``{y}``, ``{data}``, ``{model}``, ``{epochs}``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "overhead.json"

#: The budgets of docs/reference.md#budgets.
RATIO_BUDGET = 1.03
#: The monitor's own cost, apples to apples (``--steps-per-execution 1``): median and the upper
#: end of its 95 % interval.
SPE1_BUDGET, SPE1_CI_BUDGET = 1.02, 1.05
LOAD_EXT_BUDGET_S = 0.2
BASELINE = "verbose0"

# ------------------------------------------------------------------------------ variants

#: The model every variant builds afresh (a Python expression evaluated in the kernel).
MODEL = (
    "keras.Sequential([keras.Input(shape=({features},)), "
    "keras.layers.Dense({hidden}, activation='relu'), "
    "keras.layers.Dense(10, activation='softmax')])"
)


def model_code(features: int, hidden: int = 128) -> str:
    """The model every benchmark builds, as a Python expression (the reference
    workload's MLP 784-128-10 by default: docs/reference.md#budgets)."""
    return MODEL.format(features=features, hidden=hidden)


_FIT = (
    "model = {model}\n"
    "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
    "metrics=['accuracy'])\n"
    "model.fit({x}, {y}, batch_size={batch_size}, epochs={epochs}, "
    "validation_split={validation_split}, verbose={verbose})\n"
)

_TRAIN_LINE = (
    "bench --data {data} --epochs {epochs} --batch-size {batch_size} --test-split 0 "
    "--validation-split {validation_split}"
)


#: Untimed set-up of the callback-list variants: nbml's choice, and the two lists forced.
_CALLBACK_LISTS = (
    "import nbml.training.loop as _lp, nbml.training.batches as _bt\n"
    "_lean0 = getattr(_lp, '_lean0', None) or _lp.lean\n"
    "_lp._lean0 = _lean0\n"
    "def _lean_list(p, cbs, **k):\n    return _bt.LeanCallbacks(p, list(cbs), **k)\n"
    "def _keras_list(p, cbs, **k):\n    return [p, *cbs]\n"
)


@dataclass(frozen=True)
class Variant:
    """One way of training the workload.

    Args:
        code: the timed cell code, a ``str.format`` template (fields: :func:`template_fields`).
        setup: untimed code run once after the data exists and before the first round
            (e.g. imports or a display helper a variant needs).
        fields: extra format fields for ``code`` and ``setup``; string values may themselves
            use the common fields (``{train_line}``, ...).
        description: one line for the README-style table.
        kernel: ``"main"`` (nbml loaded, its compile cache off: every variant there compiles
            as ``fit`` does, apples to apples) or ``"cached"`` (a second kernel with nbml's
            defaults, its compile cache included: what a user re-running a cell gets).
    """

    code: str
    setup: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    kernel: str = "main"


VARIANTS: dict[str, Variant] = {
    "verbose0": Variant(
        _FIT,
        fields={"verbose": 0},
        description="model.compile + model.fit(verbose=0): the baseline",
    ),
    "nbml_text": Variant(
        "get_ipython().run_cell_magic('train', {line!r}, {model!r})\n",
        fields={"line": "{train_line} --no-widget"},
        description="%%train bench --data bench_data ... --test-split 0 --no-widget "
        "(cell body: the uncompiled model)",
    ),
    "nbml_widget": Variant(
        "get_ipython().run_cell_magic('train', {line!r}, {model!r})\n",
        fields={"line": "{train_line}"},
        description="%%train bench --data bench_data ... --test-split 0 (the live monitor widget) "
        "with every default, in its own kernel with nbml's compile cache",
        kernel="cached",
    ),
    "nbml_widget_spe1": Variant(
        "get_ipython().run_cell_magic('train', {line!r}, {model!r})\n",
        fields={"line": "{train_line} --steps-per-execution 1"},
        description="%%train ... --steps-per-execution 1: the live monitor's own cost, one "
        "batch per call as fit(verbose=0) runs",
    ),
    # nbml's fit with its LeanCallbacks list or with Keras's own CallbackList, forced either
    # way whatever nbml would choose (nbml.training.loop.lean swapped around the cell)
    **{
        f"{kind}_{spe}": Variant(
            "_lp.lean = {callbacks}\ntry:\n"
            "    get_ipython().run_cell_magic('train', {line!r}, {model!r})\n"
            "finally:\n    _lp.lean = _lean0\n",
            setup=_CALLBACK_LISTS,
            fields={
                "callbacks": f"_{kind}_list",
                "line": "{train_line} --no-widget --steps-per-execution " + spe[3:],
            },
            description=f"%%train ... --no-widget --steps-per-execution {spe[3:]}, fit with "
            + ("nbml's LeanCallbacks" if kind == "lean" else "Keras's own CallbackList"),
        )
        for spe in ("speauto", "spe1")
        for kind in ("lean", "keras")
    },
    "verbose1": Variant(
        _FIT,
        fields={"verbose": 1},
        description="model.compile + model.fit(verbose=1): Keras' progress bar on stdout",
    ),
    "livelossplot": Variant(
        _FIT.replace("verbose={verbose})", "verbose=0, callbacks=[PlotLossesKeras()])"),
        setup="from livelossplot import PlotLossesKeras\n",
        description="model.fit(verbose=0, callbacks=[livelossplot.PlotLossesKeras()])",
    ),
}


def template_fields(config: argparse.Namespace, names: dict[str, str]) -> dict[str, Any]:
    """The format fields of variant templates; ``names`` holds the kernel variable names."""
    fields = {
        "features": config.features,
        "hidden": config.hidden,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "validation_split": config.validation_split,
        **names,
    }
    fields["model"] = MODEL.format(**fields)
    fields["train_line"] = _TRAIN_LINE.format(**fields)
    return fields


def render(variant: Variant, fields: dict[str, Any], which: str = "code") -> str:
    """The variant's ``code`` (or ``setup``); its own string fields may use the common ones."""
    own = {k: v.format(**fields) if isinstance(v, str) else v for k, v in variant.fields.items()}
    return getattr(variant, which).format(**{**fields, **own})


def timed(code: str, var: str = "_bench_dt") -> str:
    """Cell code that runs ``code`` and stores its wall time (seconds) in ``var``."""
    return (
        "import gc as _gc, time as _time\n"
        "_gc.collect()\n"
        "_bench_t0 = _time.perf_counter()\n"
        "try:\n"
        f"{textwrap.indent(code, '    ')}"
        "finally:\n"
        f"    {var} = _time.perf_counter() - _bench_t0\n"
    )


# -------------------------------------------------------------------------------- kernel


@dataclass
class Output:
    """What one execution sent on iopub (drained while it ran)."""

    messages: int = 0
    bytes: int = 0
    stdout: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None


class Kernel:
    """One ipykernel with a blocking client; ``KERAS_BACKEND`` is removed from its env."""

    def __init__(self, cwd: str, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **(env or {})}
        env.pop("KERAS_BACKEND", None)
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=cwd, env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def execute(self, code: str, timeout: float = 3600) -> Output:
        """Run ``code``, reading every iopub message until the kernel is idle again."""
        msg_id = self.kc.execute(code)
        out = Output()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the kernel did not finish within {timeout:.0f}s")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 5))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            out.messages += 1
            out.bytes += len(json.dumps(msg["content"], default=str))
            if kind == "stream" and msg["content"]["name"] == "stdout":
                out.stdout.append(msg["content"]["text"])
            elif kind == "error":
                out.error = msg["content"]
        self.kc.get_shell_msg(timeout=60)
        return out

    def ok(self, code: str, what: str = "cell") -> Output:
        out = self.execute(code)
        if out.error is not None:
            trace = "\n".join(out.error.get("traceback", []))
            raise RuntimeError(
                f"{what} failed in the kernel: {out.error['ename']}: {out.error['evalue']}\n{trace}"
            )
        return out

    def value(self, expr: str) -> Any:
        out = self.ok(f"print('@@' + repr({expr}))", expr)
        line = [s for s in "".join(out.stdout).splitlines() if s.startswith("@@")][-1]
        return eval(line[2:], {"nan": float("nan"), "inf": float("inf")})  # noqa: S307

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


# ----------------------------------------------------------------------------- training

DATA = """\
import numpy as np
_rng = np.random.default_rng({seed})
bench_x = _rng.random(({samples}, {features}), dtype=np.float32)
bench_y = _rng.integers(0, 10, size={samples})
bench_data = (bench_x, bench_y)
bench_wx, bench_wy = bench_x[:{warm}], bench_y[:{warm}]
bench_warm = (bench_wx, bench_wy)
"""

SETUP = """\
%load_ext nbml
import os, sys, keras, jax, nbml, nbml.api
print('@@' + repr({'backend': keras.backend.backend(), 'env': os.environ.get('KERAS_BACKEND'),
    'keras': keras.__version__, 'jax': jax.__version__, 'devices': [str(d) for d in jax.devices()]}))
"""

BREAKDOWN = """\
import functools as _ft, gc as _gc, time as _time
import nbml.api as _api, nbml.ml.compiling as _cp, nbml.magics as _mg, nbml.training.loop as _nt
import nbml.training.pipeline as _pl, nbml.views.showing as _vw
_bd = {{}}
def _wrap(owner, name, key):
    f = getattr(owner, name)
    @_ft.wraps(f)
    def g(*a, **k):
        t = _time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            _bd[key] = _bd.get(key, 0.0) + _time.perf_counter() - t
            _bd.setdefault(key + '_end', _time.perf_counter())
    setattr(owner, name, g)
    return owner, name, f
_saved = [_wrap(*w) for w in [(_mg.NbmlMagics, '_model_from_cell', 'body'),
    (_pl._Step, 'load', 'load_data'), (_pl, 'plan', 'plan'),
    (_cp, 'compile_model', 'compile'), (_vw, 'show_run', 'display'),
    (_nt, '_steps', 'steps'), (_nt, 'fit', 'fit')]]
try:
    _gc.collect()
    _bench_t0 = _time.perf_counter()
    get_ipython().run_cell_magic('train', {line!r}, {model!r})
    _bd['total'] = _time.perf_counter() - _bench_t0
finally:
    for _o, _n, _f in _saved:
        setattr(_o, _n, _f)
_bd['before_fit'] = _bd['fit_end'] - _bd['fit'] - _bench_t0
_bd = {{k: v for k, v in _bd.items() if not k.endswith('_end')}}
_gc.collect()
_t = _time.perf_counter()
_ds = nbml.api.load_data({data!r}, namespace=get_ipython().user_ns, test_split=0,
                         validation_split={validation_split})
_bd['load_data_again'] = _time.perf_counter() - _t
del _ds
"""


def run_training(config: argparse.Namespace) -> dict[str, Any]:
    names = list(config.variants)
    if BASELINE not in names:
        names.insert(0, BASELINE)
    with tempfile.TemporaryDirectory(prefix="nbml-bench-") as cwd:
        kernels: dict[str, Kernel] = {}
        try:
            kernels["main"] = Kernel(cwd, {"NBML_COMPILE_CACHE": "off"})
            if any(VARIANTS[n].kernel == "cached" for n in names):
                cache = os.path.join(cwd, "compile-cache")
                kernels["cached"] = Kernel(cwd, {"NBML_COMPILE_CACHE": cache})
            result = _train_in(kernels, names, config)
            result["callback_pairs"] = callback_pairs(result["rounds"], config.seed)
            return result
        finally:
            for kernel in kernels.values():
                kernel.shutdown()


def _train_in(
    kernels: dict[str, Kernel], names: list[str], config: argparse.Namespace
) -> dict[str, Any]:
    t = time.perf_counter()
    warm = min(config.warmup_samples, config.samples)
    for kernel in kernels.values():
        info = _parse_marker(kernel.ok(SETUP, "setup"))
        kernel.ok(
            DATA.format(
                seed=config.seed, samples=config.samples, features=config.features, warm=warm
            ),
            "data",
        )
    print(
        f"kernel ready in {time.perf_counter() - t:.1f}s: backend {info['backend']} "
        f"(KERAS_BACKEND in kernel: {info['env']}), keras {info['keras']}, jax {info['jax']}, "
        f"devices {info['devices']}",
        flush=True,
    )
    full = template_fields(config, {"x": "bench_x", "y": "bench_y", "data": "bench_data"})
    small = template_fields(config, {"x": "bench_wx", "y": "bench_wy", "data": "bench_warm"})
    for name in names:
        if VARIANTS[name].setup:
            kernels[VARIANTS[name].kernel].ok(
                render(VARIANTS[name], full, "setup"), f"{name} setup"
            )
    if warm:
        # one-time costs (first imports, backend start, first JIT) stay out of round 1
        t = time.perf_counter()
        for name in names:
            kernels[VARIANTS[name].kernel].ok(render(VARIANTS[name], small), f"{name} warm-up")
        print(f"warm-up on {warm} samples: {time.perf_counter() - t:.1f}s", flush=True)

    others = [n for n in names if n != BASELINE]
    code = {name: timed(render(VARIANTS[name], full)) for name in names}

    def run(name: str) -> tuple[float, Output]:
        kernel = kernels[VARIANTS[name].kernel]
        out = kernel.ok(code[name], name)
        return kernel.value("_bench_dt"), out

    rounds: list[dict[str, Any]] = []
    base = run(BASELINE)  # opens the first sandwich
    for r in range(config.rounds):
        order = others[r % len(others) :] + others[: r % len(others)] if others else []
        row: dict[str, Any] = {
            "order": order,
            "seconds": {BASELINE: [base[0]]},
            "ratios": {},
            "messages": {BASELINE: base[1].messages},
            "bytes": {BASELINE: base[1].bytes},
        }
        for name in order:
            seconds, out = run(name)
            after = run(BASELINE)
            row["seconds"][name] = seconds
            row["ratios"][name] = seconds / ((base[0] + after[0]) / 2)
            row["seconds"][BASELINE].append(after[0])
            row["messages"][name], row["bytes"][name] = out.messages, out.bytes
            base = after
        if not others:
            base = run(BASELINE)
            row["seconds"][BASELINE].append(base[0])
        rounds.append(row)
        times = "  ".join(f"{n} {row['seconds'][n]:.2f}s ({row['ratios'][n]:.3f})" for n in order)
        print(f"round {r + 1}/{config.rounds}: {times}", flush=True)

    result: dict[str, Any] = {"kernel": info, "warmup_samples": warm, "rounds": rounds}
    result["variants"] = {}
    for name in names:
        if name == BASELINE:
            # each round's first baseline run is the previous round's last one
            secs = [*rounds[0]["seconds"][name]]
            secs += [s for row in rounds[1:] for s in row["seconds"][name][1:]]
            ratios = [1.0]
        else:
            secs = [row["seconds"][name] for row in rounds]
            ratios = [row["ratios"][name] for row in rounds]
        low, high = bootstrap_median(ratios, config.seed)
        result["variants"][name] = {
            "description": VARIANTS[name].description,
            "code": render(VARIANTS[name], full),
            "median_s": statistics.median(secs),
            "ratio": statistics.median(ratios),
            "ratio_ci95": [low, high],
            "ratios": ratios,
            "iopub_messages": statistics.median(row["messages"][name] for row in rounds),
            "iopub_bytes": statistics.median(row["bytes"][name] for row in rounds),
        }
    if config.breakdown:
        line = render(Variant("{line}", fields=VARIANTS["nbml_text"].fields), full)
        kernels["main"].ok(BREAKDOWN.format(**full, line=line), "breakdown")
        result["breakdown"] = kernels["main"].value("_bd")
    return result


def callback_pairs(rounds: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Per steps-per-execution setting, nbml's fit with LeanCallbacks over the same fit with
    Keras's CallbackList, paired within each round: median ratio of seconds and its 95 % CI."""
    out = {}
    for spe in ("speauto", "spe1"):
        lean, keras = f"lean_{spe}", f"keras_{spe}"
        ratios = [
            row["seconds"][lean] / row["seconds"][keras]
            for row in rounds
            if lean in row["seconds"] and keras in row["seconds"]
        ]
        if ratios:
            out[spe] = {
                "ratio": statistics.median(ratios),
                "ratio_ci95": list(bootstrap_median(ratios, seed)),
                "ratios": ratios,
            }
    return out


def bootstrap_median(values: list[float], seed: int = 0, n: int = 10_000) -> tuple[float, float]:
    """A 95 % percentile-bootstrap confidence interval of the median of ``values``."""
    import random

    if len(values) < 2:
        return values[0], values[0]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return medians[int(0.025 * n)], medians[int(0.975 * n) - 1]


def _parse_marker(out: Output) -> dict[str, Any]:
    line = [s for s in "".join(out.stdout).splitlines() if s.startswith("@@")][-1]
    return eval(line[2:])  # noqa: S307


# ------------------------------------------------------------------------------ load_ext

LOAD_EXT = """\
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t0 = time.perf_counter()
shell.run_line_magic('load_ext', 'nbml')
dt = time.perf_counter() - t0
print(json.dumps({'seconds': dt, 'keras': 'keras' in sys.modules, 'jax': 'jax' in sys.modules,
                  'magic': 'train' in shell.magics_manager.magics['cell']}))
"""


def run_load_ext(repeats: int) -> dict[str, Any]:
    """``%load_ext nbml`` in fresh interpreters (IPython itself already imported)."""
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    samples = []
    with tempfile.TemporaryDirectory(prefix="nbml-bench-") as cwd:
        for _ in range(repeats):
            proc = subprocess.run(
                [sys.executable, "-c", LOAD_EXT],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if not all(s["magic"] for s in samples):
        raise RuntimeError("%load_ext nbml did not register %%train")
    return {
        "median_s": statistics.median(s["seconds"] for s in samples),
        "samples_s": [s["seconds"] for s in samples],
        "keras_imported": any(s["keras"] for s in samples),
        "jax_imported": any(s["jax"] for s in samples),
    }


# -------------------------------------------------------------------------------- report


def report(result: dict[str, Any], config: argparse.Namespace) -> list[str]:
    """Print the tables; return the budgets missed."""
    missed = []
    training = result.get("training")
    if training:
        print()
        print(
            f"training: {config.samples} x {config.features} float32, batch {config.batch_size}, "
            f"validation {config.validation_split}, {config.epochs} epoch(s), "
            f"median of {config.rounds} round(s)"
        )
        print(
            f"{'variant':<12} {'median s':>9} {'ratio':>7} {'95% CI':>15} "
            f"{'iopub msgs':>11} {'iopub KB':>9}"
        )
        variants = training["variants"]
        for name, v in variants.items():
            low, high = v["ratio_ci95"]
            print(
                f"{name:<12} {v['median_s']:>9.3f} {v['ratio']:>7.3f} "
                f"{f'[{low:.3f}, {high:.3f}]':>15} "
                f"{v['iopub_messages']:>11.0f} {v['iopub_bytes'] / 1024:>9.1f}"
            )
        missed += _missed_budgets(variants, config)
        for spe, pair in training.get("callback_pairs", {}).items():
            low, high = pair["ratio_ci95"]
            print(
                f"--steps-per-execution {spe[3:]}: LeanCallbacks / Keras's CallbackList = "
                f"{pair['ratio']:.3f} [{low:.3f}, {high:.3f}] (median of paired rounds, 95% CI)"
            )
        bd = training.get("breakdown")
        if bd:
            print()
            print("nbml_text breakdown: one more %%train run, seconds")
            print(f"  cell start -> nbml.training.loop.fit entered: {bd['before_fit']:.3f}")
            print(
                f"    cell body (builds the model) {bd['body']:.3f}, nbml.api.load_data "
                f"{bd['load_data']:.3f}, whole plan (load, wrap, checks) {bd['plan']:.3f}, "
                f"compile {bd['compile']:.3f}, "
                f"display {bd['display']:.3f}, steps per call chosen (auto: timed) "
                f"{bd.get('steps', 0.0):.3f}"
            )
            print(f"  nbml.training.loop.fit (model.fit and settling the run): {bd['fit']:.3f}")
            print(f"  whole cell: {bd['total']:.3f}")
            print(f"  nbml.api.load_data called again on its own: {bd['load_data_again']:.3f}")
    load = result.get("load_ext")
    if load:
        print()
        print(
            f"%load_ext nbml: median {load['median_s']:.3f}s of {len(load['samples_s'])} fresh "
            f"processes; keras imported: {load['keras_imported']}; "
            f"jax imported: {load['jax_imported']}"
        )
        if load["median_s"] > LOAD_EXT_BUDGET_S:
            missed.append(f"%load_ext nbml {load['median_s']:.3f}s > {LOAD_EXT_BUDGET_S}s")
        if load["keras_imported"]:
            missed.append("%load_ext nbml imported keras")
    return missed


def _missed_budgets(variants: dict[str, Any], config: argparse.Namespace) -> list[str]:
    """The training budgets (docs/reference.md#budgets) that ``variants`` (name -> result)
    miss."""
    missed = []

    def ratio(name: str) -> float | None:
        return variants.get(name, {}).get("ratio")

    budgets = {"nbml_text": RATIO_BUDGET, "nbml_widget": min(RATIO_BUDGET, config.defaults_budget)}
    for name, budget in budgets.items():
        if ratio(name) is not None and ratio(name) > budget:
            missed.append(f"{name} / verbose0 = {ratio(name):.3f} > {budget}")
    spe1 = variants.get("nbml_widget_spe1")
    if spe1 is not None:
        if spe1["ratio"] > SPE1_BUDGET:
            missed.append(f"nbml_widget_spe1 / verbose0 = {spe1['ratio']:.3f} > {SPE1_BUDGET}")
        if spe1["ratio_ci95"][1] > SPE1_CI_BUDGET:
            high = spe1["ratio_ci95"][1]
            missed.append(f"nbml_widget_spe1's 95% CI ends at {high:.3f} > {SPE1_CI_BUDGET}")
    # the live monitor, one batch per call: ahead of livelossplot, not behind Keras's bar
    mine = ratio("nbml_widget_spe1") or ratio("nbml_widget")
    for peer, strict in (("livelossplot", True), ("verbose1", False)):
        other = ratio(peer)
        if mine is not None and other is not None and (mine >= other if strict else mine > other):
            missed.append(f"the monitor ({mine:.3f}) is {'not ahead of' if strict else 'behind'} "
                          f"{peer} ({other:.3f})")  # fmt: skip
    return missed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (default 20)")
    p.add_argument("--samples", type=int, default=60_000, help="rows of data (default 60000)")
    p.add_argument("--features", type=int, default=784, help="columns of data (default 784)")
    p.add_argument("--hidden", type=int, default=128, help="units of the hidden layer (128)")
    p.add_argument("--epochs", type=int, default=2, help="epochs (default 2)")
    p.add_argument(
        "--defaults-budget",
        type=float,
        default=1.00,
        help="budget of nbml_widget (%%%%train's defaults) / verbose0 (docs/reference.md: 1.00 "
        "for the reference workload, 0.80 for the small model)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--validation-split", type=float, default=0.2, help="default 0.2")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument(
        "--variants",
        default=",".join(v for v in VARIANTS if not v.startswith(("lean_", "keras_"))),
        help=f"comma-separated, from {', '.join(VARIANTS)} ({BASELINE} is always run; by "
        "default all but the callback-list ones, lean_* and keras_*)",
    )
    p.add_argument(
        "--warmup-samples",
        type=int,
        default=2_000,
        help="untimed warm-up run of every variant on this many rows first (0: none)",
    )
    p.add_argument("--load-ext-repeats", type=int, default=7, help="default 7")
    p.add_argument("--skip-training", action="store_true", help="only time %%load_ext")
    p.add_argument("--skip-load-ext", action="store_true", help="only time training")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="after the rounds, time what nbml does before model.fit (one extra run)",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    p.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if a budget (docs/reference.md) is missed: nbml_text / verbose0 > "
        f"{RATIO_BUDGET}, "
        "nbml_widget / verbose0 > --defaults-budget, nbml_widget_spe1 median > "
        f"{SPE1_BUDGET} or its CI above {SPE1_CI_BUDGET}, the monitor not ahead of livelossplot "
        f"or behind verbose1, %%load_ext > {LOAD_EXT_BUDGET_S}s or it imports keras",
    )
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def start_result(config: Any) -> dict[str, Any]:
    """A benchmark's result as it begins: its configuration and the host it runs on."""
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()},
        "host": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }


def finish(result: dict[str, Any], config: Any, missed: list[str]) -> int:
    """Write ``result`` (with the budgets ``missed``) to ``config.output``, say what was
    missed, and return the exit code (1 with ``--check`` when a budget was missed)."""
    result["budgets_missed"] = missed
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {config.output}")
    if missed:
        print("budgets missed: " + "; ".join(missed))
    return 1 if config.check and missed else 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    result = start_result(config)
    result["timing"] = (
        "wall time inside the kernel: time.perf_counter() around the cell's work "
        "(fresh model build + compile/fit or run_cell_magic('train')), after gc.collect()"
    )
    started = time.time()
    if not config.skip_load_ext:
        result["load_ext"] = run_load_ext(config.load_ext_repeats)
    if not config.skip_training:
        result["training"] = run_training(config)
    result["wall_s"] = time.time() - started
    return finish(result, config, report(result, config))


if __name__ == "__main__":
    sys.exit(main())
