"""Option combinations of ``%%sweep`` and ``%%lr_find`` that cannot work (docs/reference.md,
sweeps and the learning-rate finder): each a one-line UsageError naming the fix, raised before
any trial or batch, changing nothing (tests/test_kernel_errors.py runs them)."""

from __future__ import annotations

from catalogue import IRIS_MODEL, NOT_A_MODEL, case

HP_MODEL = """
keras.Sequential([
    keras.Input((4,)),
    keras.layers.Dense(hp.int("units", 4, 16), activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
"""
RESERVED_HP_MODEL = """
_lr = hp.float("lr", 1e-4, 1e-1)
keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
"""


def sweep_cell(line: str, body: str = IRIS_MODEL) -> str:
    return f"%%sweep s {line}{body}"


IRIS = "--data sklearn:iris --trials 2 --epochs 1"

SWEEP_CASES = [
    case(
        "sweep-trials-0",
        sweep_cell("--data sklearn:iris --trials 0"),
        ["--trials must be a whole number of at least 1"],
    ),
    case("sweep-no-data", sweep_cell("--trials 2"), ["Say what to train on", "--data"]),
    case("sweep-reset", sweep_cell(f"{IRIS} --reset"), ["--reset does not apply to a sweep"]),
    case("sweep-wait", sweep_cell(f"{IRIS} --wait"), ["--wait does not apply to a sweep"]),
    case(
        "sweep-from-run",
        sweep_cell(f"{IRIS} --from-run abc"),
        ["--from-run does not apply to a sweep"],
    ),
    case(
        "sweep-val-objective-no-split",
        sweep_cell(f"{IRIS} --objective val_accuracy --validation-split 0"),
        ["measured on the validation part", "--objective accuracy"],
    ),
    case(
        "sweep-direction",
        sweep_cell(f"{IRIS} --direction up"),
        ["argument --direction: invalid choice: 'up'", "'minimize', 'maximize'"],
    ),
    case(
        "sweep-pruner", sweep_cell(f"{IRIS} --pruner medain"), ["--pruner must be one of", "median"]
    ),
    case(
        "sweep-range-reversed",
        sweep_cell(f"{IRIS} --lr 0.1:0.01"),
        ["the range's low end must be below its high end"],
    ),
    case(
        "sweep-log-range-zero",
        sweep_cell(f"{IRIS} --lr 0:0.1:log"),
        ["--lr must be a positive number such as 0.001, not 0.0."],
    ),
    case(
        "sweep-log-range-negative",
        sweep_cell(f"{IRIS} --early-stopping -2:3:log"),
        ["--early-stopping"],
    ),
    case(
        "sweep-optimizer-range",
        sweep_cell(f"{IRIS} --optimizer 1:2"),
        ["Unknown optimizer '1:2'", "adam"],
    ),
    case(
        "sweep-batch-size-float",
        sweep_cell(f"{IRIS} --batch-size 32.5,64"),
        ["--batch-size takes whole numbers"],
    ),
    case("sweep-empty-list", sweep_cell(f"{IRIS} --lr 0.1,"), ["--lr has an empty value"]),
    case(
        "sweep-storage",
        sweep_cell(f"{IRIS} --storage foo"),
        ["--storage takes", "'foo' is neither"],
    ),
    case(
        "sweep-seed", sweep_cell(f"{IRIS} --seed abc"), ["--seed must be a whole number", "or none"]
    ),
    case(
        "sweep-hp-reserved",
        sweep_cell(f"{IRIS} --lr 1e-3:1e-1:log", RESERVED_HP_MODEL),
        ["already searches (--lr)", "another name"],
    ),
    case(
        "sweep-no-model", sweep_cell(IRIS, NOT_A_MODEL), ["The %%sweep cell yields no Keras model"]
    ),
    case(
        "sweep-trials-and-task",
        sweep_cell(f"{IRIS} --task multilabel", HP_MODEL),
        ["--task multilabel"],
    ),
]

LR_FIND_COMBINATIONS = [
    case(
        "lr-find-seed-negative",
        "%lr_find tiny --seed -1",
        ["--seed must be a whole number from 0 to 4294967295, or none", "not -1."],
    ),
    case("lr-find-two-inapplicable", "%lr_find tiny --epochs 2 --lr 0.1", ["does not apply"]),
    case(
        "lr-find-data-steps",
        "%lr_find tiny --data sklearn:iris --steps 5",
        ["--steps must be from 10 to 10,000"],
    ),
    case(
        "lr-find-range-with-data",
        "%lr_find tiny --data sklearn:iris --start 1 --end 0.1",
        ["must be above --start"],
    ),
    case(
        "lr-find-multilabel-on-classes",
        "%%lr_find fresh --data sklearn:iris --task multilabel" + IRIS_MODEL,
        ["--task multilabel"],
    ),
    case(
        "lr-find-normalize-line", "%lr_find tiny --normalize standard", ["travels inside the model"]
    ),
]
