"""``%inspect`` and ``--inspect`` mistakes (docs/inspector.md): each a one-line UsageError
naming the fix, changing nothing; and the legitimate uses: a model of this kernel, a plain
Keras model in a variable (its layer table, and where statistics come from)."""

from __future__ import annotations

from catalogue import IRIS_MODEL, case, cell, legit

INSPECT_CASES = [
    case(
        "inspect-unknown",
        "%inspect tinny",
        ["No model or run 'tinny' to inspect", "Did you mean 'tiny'", "%runs lists them"],
    ),
    case(
        "inspect-unknown-run-id",
        "%inspect 0123456789ab",
        ["No model or run '0123456789ab' to inspect", "a run id"],
    ),
    case("inspect-no-name", "%inspect", ["the following arguments are required: name"]),
    case(
        "inspect-not-a-model",
        "%inspect not_a_model",
        ["No model or run 'not_a_model' to inspect", "a Keras model variable"],
        before="not_a_model = 3",
    ),
    case(
        "inspect-cadence-0",
        cell("other --data sklearn:iris --inspect 0"),
        ["--inspect takes a number of epochs", "or off, not 0."],
    ),
    case(
        "inspect-cadence-negative",
        "%train tiny --inspect -1",
        ["--inspect takes a number of epochs", "(1 for every epoch, the default)", "not -1."],
    ),
    case(
        "inspect-cadence-abc",
        "%train tiny --inspect abc",
        ["--inspect takes a number of epochs", "or off, not 'abc'."],
    ),
    case(
        "inspect-cadence-float",
        "%train tiny --inspect 1.5",
        ["--inspect takes a number of epochs", "not '1.5'."],
    ),
]

PLAIN = f"plain = {IRIS_MODEL.strip()}"

INSPECT_LEGIT = [
    legit(
        "inspect-tiny",
        "_ins = %inspect tiny",
        "(type(_ins).__name__, _ins.name, len(_ins.records) >= 1, _ins.run_id is not None)",
        ("Inspection", "tiny", True, True),
    ),
    legit(
        "inspect-plain-keras-model",
        "%inspect plain",
        "(nbml.inspect('plain').total_params == plain.count_params(), "
        "'%%train' in nbml.inspect('plain').notes['stats'])",
        (True, True),
        before=PLAIN,
        out=("not trained by nbml", "statistics come from"),
    ),
    legit(
        "inspect-off",
        "%train tiny --epochs 1 --inspect off",
        "__import__('nbml').models()[0].runs[-1].inspection is None",
        True,
    ),
    legit(
        "inspect-every-2",
        "%train tiny --epochs 2 --inspect 2",
        "[e for e, _ in __import__('nbml').models()[0].runs[-1].inspection.records]",
        [2],
    ),
]
