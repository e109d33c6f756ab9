"""A real Jupyter kernel driven through jupyter_client, for end-to-end magic tests."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class Result:
    """What one execute request produced on iopub."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    def _of(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"] for m in self._of("stream") if m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"] for m in self._of("stream") if m["content"]["name"] == "stderr"
        )

    @property
    def error(self) -> dict[str, Any] | None:
        errors = self._of("error")
        return errors[0]["content"] if errors else None

    @property
    def displays(self) -> list[dict[str, Any]]:
        """``display_data`` contents (data, metadata, transient)."""
        return [m["content"] for m in self._of("display_data")]

    @property
    def updates(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self._of("update_display_data")]

    @property
    def result(self) -> dict[str, Any] | None:
        res = self._of("execute_result")
        return res[0]["content"]["data"] if res else None

    @property
    def text(self) -> str:
        """Everything readable: streams, display and result text."""
        parts = [self.stdout, self.stderr]
        for m in self._of("display_data", "update_display_data", "execute_result"):
            parts.append(m["content"]["data"].get("text/plain", ""))
        if self.error:
            parts.append(f"{self.error['ename']}: {self.error['evalue']}")
        return "\n".join(parts)

    @property
    def last_display_text(self) -> str:
        msgs = self._of("display_data", "update_display_data")
        return msgs[-1]["content"]["data"].get("text/plain", "") if msgs else ""


class Kernel:
    """A started kernel with a blocking client."""

    def __init__(self, cwd: str, env: dict[str, str] | None = None) -> None:
        self.km = KernelManager(kernel_name="python3")
        full_env = {**os.environ, **(env or {})}
        full_env.pop("KERAS_BACKEND", None)  # nbml chooses jax when it is unset
        if os.environ.get("NBML_TEST_BACKEND"):  # the backend matrix: make test-backends
            full_env["KERAS_BACKEND"] = os.environ["NBML_TEST_BACKEND"]
        self.km.start_kernel(cwd=cwd, env=full_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def execute(
        self,
        code: str,
        timeout: float = 300,
        until: Callable[[dict[str, Any]], bool] | None = None,
        then: Callable[[], None] | None = None,
    ) -> Result:
        """Run ``code``; when ``until(msg)`` first holds, call ``then()`` and keep reading."""
        msg_id = self.kc.execute(code)
        res = Result()
        deadline = time.monotonic() + timeout
        fired = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"kernel did not finish within {timeout}s: {code[:80]!r}")
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 5))
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            res.messages.append(msg)
            if until is not None and not fired and until(msg):
                fired = True
                if then is not None:
                    then()
        res.reply = self.kc.get_shell_msg(timeout=30)["content"]
        return res

    def ok(self, code: str, timeout: float = 300) -> Result:
        """Run ``code`` and fail with the kernel's own words if it raised."""
        res = self.execute(code, timeout)
        assert res.error is None, f"{res.error['ename']}: {res.error['evalue']}\n" + "\n".join(
            res.error["traceback"]
        )
        assert "UsageError" not in res.stderr, res.stderr
        return res

    def value(self, expr: str) -> Any:
        """Evaluate ``expr`` in the kernel and return it (via repr / literal_eval)."""
        import ast

        res = self.ok(f"print(repr({expr}))")
        # the repr is the last line: a backend may print its own warnings first (TensorFlow)
        return ast.literal_eval(res.stdout.strip().splitlines()[-1])

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
