"""Catalogue cases: a model busy training in the background (docs/reference.md#busy-models), what
%predict is given, options of the magics without options, --steps-per-execution, and a diverged
model."""

from __future__ import annotations

from catalogue import IRIS_MODEL, case, cell

#: ``bgm`` trains in the background (for far longer than the cases take) before each busy case.
BUSY = f"""
import time as _t
_rec = [m for m in nbml.models() if m.name == "bgm"]
if not _rec or _rec[0].status != "training":
    get_ipython().run_cell_magic(
        "train", "bgm --data sklearn:iris --epochs 100000 --batch-size 1 --background",
        {IRIS_MODEL!r},
    )
    while [m for m in nbml.models() if m.name == "bgm"][0].epoch < 1:
        _t.sleep(0.05)
"""

#: Stops ``bgm`` and waits for its run to end (the last busy case).
STOP = (
    BUSY
    + """
get_ipython().run_line_magic("stop", "bgm")
while [m for m in nbml.models() if m.name == "bgm"][0].status == "training":
    _t.sleep(0.05)
"""
)

#: ``nanm``: a trained model whose weights became NaN.
DIVERGED = (
    f"get_ipython().run_cell_magic('train', 'nanm --data sklearn:iris --epochs 1 --no-widget', "
    f"{IRIS_MODEL!r})\n"
    "nanm.set_weights([w * np.nan for w in nanm.get_weights()])"
)

BUSY_WORDS = ["bgm is busy training", "would read weights that are changing", "%stop bgm", "--wait"]

BUSY_CASES = [
    case("busy-evaluate", "%evaluate bgm", [*BUSY_WORDS, "to evaluate it"], before=BUSY),
    case("busy-predict", "%predict bgm x_iris[:2]", [*BUSY_WORDS, "predict with"], before=BUSY),
    case("busy-save", "%save bgm", [*BUSY_WORDS, "to save it"], before=BUSY),
    case("busy-train-line", "%train bgm --epochs 1", [*BUSY_WORDS, "to train it"], before=BUSY),
    case(
        "busy-train-cell",
        cell("bgm --data sklearn:iris --epochs 1"),
        [*BUSY_WORDS, "to train it"],
        before=BUSY,
    ),
    case(
        "busy-same-object-other-name",
        cell("twin --data sklearn:iris --epochs 1", "\nbgm\n"),
        ["twin is the same model as bgm", *BUSY_WORDS],
        before=BUSY,
    ),
    case(
        "busy-from-another-name-line",
        "twin2 = bgm\n%train twin2 --epochs 1",
        ["twin2 is the same model as bgm", *BUSY_WORDS],
        before=BUSY,
    ),
    case("after-stop-bad-average", "%evaluate bgm --average mean", ["--average"], before=STOP),
]

INPUT_CASES = [
    case(
        "predict-nan-rows",
        "%predict tiny np.full((2, 4), np.nan)",
        ["2 of 2 input rows hold NaN or inf", "drop or fill them"],
    ),
    case(
        "predict-strings",
        "%predict tiny np.array([['a'] * 4])",
        ["holds strings", "Encode them first"],
    ),
    case("predict-empty", "%predict tiny np.zeros((0, 4))", ["nothing to predict", "(0, 4)"]),
    case("predict-ragged", "%predict tiny [[1, 2, 3, 4], [1, 2]]", ["different shapes"]),
    case(
        "predict-diverged",
        "%predict nanm x_iris[:2]",
        ["nanm outputs NaN", "--reset --lr"],
        before=DIVERGED,
    ),  # fmt: skip
    case("evaluate-diverged", "%evaluate nanm", ["nanm outputs NaN", "--reset --lr"]),
    case("models-bogus", "%models --bogus", ["unrecognized arguments: --bogus"]),
    case("devices-extra", "%devices gpu", ["unrecognized arguments: gpu"]),
    case(
        "spe-zero",
        "%train tiny --steps-per-execution 0",
        ["--steps-per-execution takes auto or a whole number", "not 0"],
    ),
    case(
        "spe-word",
        "%train tiny --steps-per-execution fast",
        ["--steps-per-execution takes auto or a whole number", "'fast'"],
    ),
    case(
        "top-k-of-three-classes",
        "%train tiny --metrics sparse_top_k_categorical_accuracy",
        ["top 5 classes", "3 outputs", "always 1", "--metrics accuracy"],
    ),
    case("wait-unknown-model", "%evaluate nosuch --wait", ["No model named 'nosuch'"]),
]
