"""A sweep's Optuna storage as one kernel sees it: fewer reads of a shared database per trial.

Optuna's cached RDB storage keeps finished trials (they never change) and reads every running
trial back from the database whenever it is asked for one: asking for a trial, sampling it and
telling its outcome read the database about six times per trial (measured: 6 statements per
read, 5-6 ms each right after a trial trained, a third of a sweep's bookkeeping per trial).
Two facts make most of those reads unnecessary:

- A running trial is written only by the kernel that runs it. So this kernel keeps a copy of
  each trial it runs, updated as it writes, and answers for it without a read until it ends.
- Asking for a trial reads the study three times within milliseconds (the study's count, the
  waiting trials, the sampler's search space). :meth:`KernelStorage.one_read` makes the first
  read serve the others (a trial that ends in another kernel meanwhile counts from the next
  trial on, as if it had ended those milliseconds later).

Every write goes to the storage at once, as before; other kernels see the same database.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import datetime
import threading
from collections.abc import Iterator
from typing import Any

from optuna.storages import BaseStorage


class KernelStorage(BaseStorage):
    """``inner`` (an Optuna storage), with this kernel's running trials kept and the study read
    once per :meth:`one_read`. Every method it does not define is ``inner``'s own."""

    def __init__(self, inner: BaseStorage, backend: BaseStorage | None = None) -> None:
        """``backend``: the storage under ``inner`` (the RDB storage under Optuna's cache)."""
        self.inner, self.backend = inner, backend or inner
        self._mine: dict[int, tuple[int, Any]] = {}  # trial id -> (study id, trial) running here
        self._made: dict[int, int] = {}  # trial id -> study id: created here, not read back yet
        self._ended: dict[int, tuple[int, Any]] = {}  # trial id -> (study id, trial): ended here
        self._lock = threading.Lock()
        self._window = threading.local()  # per thread: the study as read in a one_read

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    @contextlib.contextmanager
    def one_read(self) -> Iterator[None]:
        """Within this block (on this thread), the study is read from the storage once."""
        if getattr(self._window, "trials", None) is not None:  # already within one
            yield
            return
        self._window.trials = {}
        try:
            yield
        finally:
            self._window.trials = None

    # ------------------------------------------------------------------ trials run here

    def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
        trial_id = self.inner.create_new_trial(study_id, template_trial)
        with self._lock:
            self._made[trial_id] = study_id
        return trial_id

    def get_trial(self, trial_id: int) -> Any:
        with self._lock:
            if trial_id in self._mine:
                return copy.deepcopy(self._mine[trial_id][1])
            if trial_id in self._ended:
                return copy.deepcopy(self._ended[trial_id][1])
        trial = self.inner.get_trial(trial_id)
        with self._lock:
            study_id = self._made.pop(trial_id, None)
            if study_id is not None and not trial.state.is_finished():
                self._mine[trial_id] = (study_id, copy.deepcopy(trial))
        return trial

    def _update(self, trial_id: int, change: Any) -> None:
        with self._lock:
            if trial_id in self._mine:
                change(self._mine[trial_id][1])

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        self.inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)

        def change(t: Any) -> None:
            t.params[param_name] = distribution.to_external_repr(param_value_internal)
            t.distributions[param_name] = distribution

        self._update(trial_id, change)

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        self.inner.set_trial_intermediate_value(trial_id, step, value)
        self._update(trial_id, lambda t: t.intermediate_values.__setitem__(step, value))

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.inner.set_trial_user_attr(trial_id, key, value)
        self._update(trial_id, lambda t: t.user_attrs.__setitem__(key, value))

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.inner.set_trial_system_attr(trial_id, key, value)
        self._update(trial_id, lambda t: t.system_attrs.__setitem__(key, value))

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        with self._lock:  # read back from the storage from now on, unless this ends it here
            kept = self._mine.pop(trial_id, None)
            self._made.pop(trial_id, None)
        changed = self.inner.set_trial_state_values(trial_id, state, values)
        if kept is not None and changed and state.is_finished():
            study_id, trial = kept  # as the storage wrote it (ended, it never changes again)
            trial.state, trial.values = state, None if values is None else list(values)
            trial.datetime_complete = datetime.datetime.now()
            with self._lock:
                self._ended[trial_id] = (study_id, trial)
        return changed

    # ------------------------------------------------------------------ the study's trials

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list:
        seen = getattr(self._window, "trials", None)
        if seen is None:
            return self.inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        if study_id not in seen:
            seen[study_id] = self.inner.get_all_trials(study_id, deepcopy=False)
        with self._lock:
            mine = {t.number: t for s, t in self._mine.values() if s == study_id}
            ended = {t.number: t for s, t in self._ended.values() if s == study_id}
        trials = {t.number: t for t in seen[study_id]}
        for number, t in ended.items():  # ended here since the read (or made and ended)
            if number not in trials or not trials[number].state.is_finished():
                trials[number] = t
        trials.update(mine)
        out = [t for _, t in sorted(trials.items()) if states is None or t.state in states]
        return copy.deepcopy(out) if deepcopy else out


def _forward(name: str) -> Any:
    def method(self: KernelStorage, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _name in KernelStorage.__abstractmethods__:
    setattr(KernelStorage, _name, _forward(_name))
abc.update_abstractmethods(KernelStorage)
