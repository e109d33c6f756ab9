"""``--from-run``: a stored run's saved model becomes the model ``name``, on that run's data and
split (or data the user names), so that :func:`nbml.training.pipeline.plan` continues it."""

from __future__ import annotations

from typing import Any

from ..core.errors import NbmlError
from ..core.files import first_line
from ..core.options import check_split, split_seed
from ..core.registry import REGISTRY, ModelRecord
from ..ml import data as _data
from ..ml import preprocessing


def _load(data: Any, ns: dict[str, Any], load: dict[str, Any], split: dict[str, Any]) -> Any:
    raw = _data.resolve(data, ns, load["target"])
    return _data.prepare(raw, task=load["task"], seed=load["seed"], clean=load["clean"], **split)


def adopt(
    name: str,
    stored: Any,
    data: Any,
    ns: dict[str, Any],
    *,
    target: str | None,
    task: str | None,
    clean: bool,
) -> Any:
    """Make the saved model of ``stored`` (a store's run) the model ``name``, on that run's data
    and split (or ``data``), so that ``plan(name, None, None, ...)`` continues it.

    Everything is loaded and checked before the registry changes. Returns a function that
    puts back what ``name`` was before (for when planning fails afterwards).
    """
    import keras

    if not isinstance(name, str) or not name.isidentifier():
        raise NbmlError(f"A model name must be a Python identifier such as mlp, not {name!r}.")
    REGISTRY.ensure_free(name, action="train it")
    previous = REGISTRY.get(name)
    model_file = stored.model_file()  # a file in the store's models folder, else NbmlError
    p = stored.params
    seed, task = split_seed(p.get("seed", 0)), task or p.get("task")
    load = {"target": target, "task": task, "clean": clean, "seed": seed}
    split = {
        "test_split": check_split("--test-split", p.get("test_split")),
        "validation_split": check_split("--validation-split", p.get("validation_split")),
    }
    try:
        dataset = _load(stored.data_spec() if data is None else data, ns, load, split)
    except NbmlError as exc:
        if data is not None:
            raise
        raise NbmlError(
            f"Run {stored.id} was trained on '{stored.data}', which cannot be loaded here ({exc}) "
            f"Add --data SPEC (and --target COLUMN) to continue it on data you name."
        ) from None
    try:
        model = keras.saving.load_model(model_file)
    except Exception as exc:
        detail = first_line(exc)
        raise NbmlError(f"Could not load {model_file} (run {stored.id}): {detail}") from None
    if not dataset.is_stream:
        preprocessing.check_input(model, dataset.sample_shape)
    normalize = p.get("normalize") or "none"
    runs = previous.runs if previous is not None else []
    REGISTRY.put(ModelRecord(name, model, dataset, dataset.task, runs, normalize=normalize))

    def undo() -> None:
        if previous is not None:
            REGISTRY.put(previous)
        else:
            REGISTRY.remove(name)

    return undo
