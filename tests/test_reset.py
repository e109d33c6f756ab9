"""``%train NAME --reset`` in a real kernel: fresh weights for a model Keras cannot clone.

- A ``keras.Model`` subclass without ``get_config``/``from_config`` trained by a ``%%train``
  cell: ``--reset`` runs the cell's body again, seeded as its first run was, behind new copies
  of nbml's own preprocessing (min-max scaling, random flips); with the same ``--seed`` it
  trains exactly as the first run did.
- The same model given to ``nbml.train`` as a model object (no body known): ``--reset`` is one
  UsageError that names ``get_config``/``from_config``, and the model is left as it was.
"""

from __future__ import annotations

import pytest

SUBCLASS = """
import keras, nbml

class Sub(keras.Model):  # no get_config/from_config: Keras cannot clone it
    def __init__(self, units):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(self.flat(x)))
"""

LINE = "--data sklearn:digits --epochs 2 --seed 3 --no-widget"


@pytest.fixture(scope="module", autouse=True)
def _subclass(kernel):
    kernel.ok(SUBCLASS)


def test_reset_of_a_subclassed_model_runs_its_cell_again(kernel):
    kernel.ok(
        f"%%train sub {LINE} --augment flip\n_built = globals().get('_built', 0) + 1\nSub(16)"
    )
    kernel.ok("trained = sub\nfirst = nbml.runs('sub')[-1]")
    assert kernel.value("_built") == 1
    kernel.ok(f"%train sub --reset {LINE}")
    assert kernel.value("_built") == 2  # the body ran again
    assert kernel.value("sub is not trained") is True
    assert kernel.value("[r.model is sub for r in nbml.models() if r.name == 'sub']") == [True]
    again = kernel.value("nbml.runs('sub')[-1].history['loss']")
    # the same seed: the same fresh weights, so the same losses as the first run (continuing
    # from the trained weights would start far lower)
    assert again == kernel.value("first.history['loss']"), again
    assert kernel.value("nbml.runs('sub')[-1].status") == "finished"
    # the preprocessing nbml placed before the body's model is there again, new layers with
    # the first run's statistics and seed (the same losses above: the same flips too)
    kinds = kernel.value("[type(layer).__name__ for layer in sub.layers]")
    assert kinds == kernel.value("[type(layer).__name__ for layer in trained.layers]")
    assert "Normalization" in kinds and "RandomFlip" in kinds and "Sub" in kinds, kinds
    assert kernel.value("not set(map(id, sub.layers)) & set(map(id, trained.layers))")
    # a reset without --seed's value given takes the default seed, as a first run would
    kernel.ok("%train sub --reset --data sklearn:digits --epochs 1 --no-widget")
    assert kernel.value("_built") == 3


def test_reset_without_a_known_body_names_get_config(kernel):
    kernel.ok(
        "run = nbml.train('apisub', Sub(8), 'sklearn:digits', epochs=1, display='none')\n"
        "before = apisub"
    )
    res = kernel.execute("%train apisub --reset --epochs 1 --no-widget")
    assert res.error is None, res.text
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("UsageError: ")]
    assert len(lines) == 1 and "Traceback" not in res.text, res.text
    assert "get_config" in lines[0] and "from_config" in lines[0], lines[0]
    assert "%%train" in lines[0], lines[0]  # the way out: a cell nbml can run again
    assert kernel.value("(apisub is before, len(nbml.runs('apisub')))") == (True, 1)


def test_reset_of_a_subclassed_model_first_built_by_lr_find_runs_that_cell(kernel):
    kernel.ok(
        "%%lr_find found --data sklearn:digits --steps 10 --no-widget\n_lr = globals().get('_lr', 0) + 1\nSub(8)"
    )
    kernel.ok(f"%train found --reset {LINE}")
    assert kernel.value("_lr") == 2  # the finder's cell ran again for fresh weights
    assert kernel.value("nbml.runs('found')[-1].status") == "finished"
