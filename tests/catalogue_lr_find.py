"""The learning-rate finder's mistakes (docs/reference.md#the-learning-rate-finder): each a one-line
UsageError naming the fix, changing nothing (tests/test_kernel_errors.py runs them on the
catalogue's kernel, whose model ``tiny`` is an iris classifier); and its legitimate uses, which
leave ``tiny`` as it was."""

from __future__ import annotations

from catalogue import IRIS_MODEL, NAME_HINT, NOT_A_MODEL, TWO_UNIT_MODEL, case, legit


def finder_cell(line: str, body: str = IRIS_MODEL) -> str:
    return f"%%lr_find {line}{body}"


LR_FIND_CASES = [
    # ---- training options that do not apply to the finder, each with what to do instead
    case("lr-find-epochs", "%lr_find tiny --epochs 3", ["--epochs does not apply", "--steps N"]),
    case("lr-find-lr", "%lr_find tiny --lr 0.1", ["--lr does not apply", "%train NAME --lr RATE"]),
    case(
        "lr-find-early-stopping",
        "%lr_find tiny --early-stopping 2",
        ["--early-stopping does not apply", "stops by itself once the loss diverges"],
    ),
    case(
        "lr-find-background",
        "%lr_find tiny --background",
        ["--background does not apply", "Train button"],
    ),
    case("lr-find-reset", "%lr_find tiny --reset", ["--reset does not apply", "%%lr_find cell"]),
    case(
        "lr-find-from-run",
        "%lr_find tiny --from-run abc123",
        ["--from-run does not apply", "%train NAME --from-run ID, then run %lr_find NAME"],
    ),
    case("lr-find-distribute", "%lr_find tiny --distribute data", ["--distribute does not apply"]),
    case(
        "lr-find-steps-per-execution",
        "%lr_find tiny --steps-per-execution 4",
        ["--steps-per-execution does not apply", "one batch per call"],
    ),
    # ---- the finder's own options
    case("lr-find-start-neg", "%lr_find tiny --start -1", ["--start must be a positive", "1e-7"]),
    case("lr-find-start-0", "%lr_find tiny --start 0", ["--start must be a positive number"]),
    case("lr-find-start-nan", "%lr_find tiny --start nan", ["--start must be a positive number"]),
    case("lr-find-start-abc", "%lr_find tiny --start abc", ["--start", "invalid float value"]),
    case("lr-find-end-inf", "%lr_find tiny --end inf", ["--end must be a positive number", "10"]),
    case(
        "lr-find-end-below-start",
        "%lr_find tiny --start 1 --end 0.01",
        ["--end (0.01) must be above --start (1)", "Try --start 0.01 --end 10"],
    ),
    case("lr-find-end-equals-start", "%lr_find tiny --start 0.1 --end 0.1", ["must be above"]),
    case("lr-find-steps-2", "%lr_find tiny --steps 2", ["--steps must be from 10 to 10,000"]),
    case("lr-find-steps-huge", "%lr_find tiny --steps 1000000", ["from 10 to 10,000", "1000000"]),
    case("lr-find-steps-0", "%lr_find tiny --steps 0", ["--steps must be a whole number"]),
    case("lr-find-steps-float", "%lr_find tiny --steps 2.5", ["--steps", "invalid int value"]),
    # ---- names, options and cells, as %%train has them
    case("lr-find-unknown-option", "%lr_find tiny --foo", ["unrecognized arguments: --foo"]),
    case("lr-find-unknown-model", "%lr_find tinny", NAME_HINT),
    case("lr-find-no-name", "%lr_find", ["the following arguments are required: name"]),
    case("lr-find-optimizer", "%lr_find tiny --optimizer adamm", ["Unknown optimizer 'adamm'"]),
    case("lr-find-loss", "%lr_find tiny --loss bogus", ["Unknown loss 'bogus'"]),
    case("lr-find-batch-0", "%lr_find tiny --batch-size 0", ["--batch-size", "at least 1"]),
    case(
        "lr-find-split-without-data",
        "%lr_find tiny --validation-split 0.3",
        ["--validation-split apply when data is loaded", "reuses tiny's data and split"],
    ),
    case("lr-find-cell-no-data", finder_cell("other"), ["Say what to train other on", "--data"]),
    case(
        "lr-find-cell-no-model",
        finder_cell("other --data sklearn:iris", NOT_A_MODEL),
        ["The %%lr_find cell yields no Keras model", "assign it to `model`"],
    ),
    case(
        "lr-find-cell-wrong-head",
        finder_cell("other --data sklearn:iris", TWO_UNIT_MODEL),
        ["outputs 2 values per sample but the labels have 3 classes", "Dense(3"],
    ),
    case(
        "lr-find-generator",
        finder_cell("other --data gen_lr"),
        ["is a generator: the finder would use it up", "PyDataset"],
        before="gen_lr = batches()",
    ),
]

LR_FIND_LEGIT = [
    legit(
        "lr-find-help",
        "%lr_find --help",
        "1",
        1,
        out=("Find a learning rate", "--start", "--steps", "--data SPEC"),
    ),
    legit(
        "lr-find-line-on-tiny",
        "_f = %lr_find tiny --steps 20 --end 1",
        "(len(_f.lrs) <= 20, _f.name, type(_f).__name__)",
        (True, "tiny", "LRFinding"),
    ),
    legit(
        "lr-find-cell-then-train-without-data",
        finder_cell("fresh --data sklearn:iris --steps 20 --end 1")
        + "\n",  # then: %train fresh --lr <suggestion> needs no --data
        "(lambda f: nbml.train('fresh', lr=f.suggestions['minimum'] or 0.01, epochs=1, "
        "display='none').status)(nbml.lr_find('fresh', steps=20, end=1))",
        "finished",
    ),
]
