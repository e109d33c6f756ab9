"""The handlers of ``/nbml/kernels``: live kernels joined with their sessions and snapshots,
stop requests, and the inspector records a kernel's run store keeps."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import sqlite3
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..core import presence
from ..core.jsonsafe import json_safe
from .stored import NotStored, read_inspection

AUTH_RESOURCE = "kernels"
_KERNEL_ID = r"(?P<kernel_id>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})"
_RUN_ID = r"(?P<run_id>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})"


async def kernel_list(kernel_manager: Any, session_manager: Any) -> dict[str, Any]:
    """Every kernel alive in ``kernel_manager``: its model (id, name, execution state), the
    sessions that use it (notebook paths) and its nbml snapshot (None without nbml)."""
    sessions: dict[str, list[dict[str, Any]]] = {}
    for s in await ensure_async(session_manager.list_sessions()):
        kernel = s.get("kernel") or {}
        if kernel.get("id"):
            entry = {k: s.get(k) for k in ("id", "path", "name", "type")}
            sessions.setdefault(kernel["id"], []).append(entry)
    kernels = []
    for kid in list(kernel_manager.list_kernel_ids()):
        try:
            kernel = kernel_manager.get_kernel(kid)
            if not await ensure_async(kernel.is_alive()):
                continue
            model = await ensure_async(kernel_manager.kernel_model(kid))
        except (KeyError, web.HTTPError):  # shut down meanwhile
            continue
        where = _connection_dir(kernel)
        kernels.append(
            {
                "id": kid,
                "name": model.get("name"),
                "execution_state": model.get("execution_state"),
                "last_activity": str(model.get("last_activity") or "") or None,
                "sessions": sessions.get(kid, []),
                "nbml": presence.read_snapshot(where, kid) if where else None,
            }
        )
    return {"version": presence.VERSION, "kernels": kernels}


def _connection_dir(kernel: Any) -> str | None:
    path = getattr(kernel, "connection_file", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


class KernelsHandler(APIHandler):
    """``GET /nbml/kernels``: the running kernels, with what nbml reports from each."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        listing = await kernel_list(self.kernel_manager, self.session_manager)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(listing, allow_nan=False))


class StopHandler(APIHandler):
    """``POST /nbml/kernels/<id>/stop`` with ``{"model": NAME}``: the kernel's reporter stops
    that model's training at the next batch boundary (as ``%stop NAME``)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def post(self, kernel_id: str) -> None:
        body = self.get_json_body()
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not 0 < len(model) <= 200:
            raise web.HTTPError(400, 'the body must be {"model": NAME}, NAME of 1-200 characters')
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, f"no kernel {kernel_id}")
        where = _connection_dir(self.kernel_manager.get_kernel(kernel_id))
        if where is None or presence.read_snapshot(where, kernel_id) is None:
            raise web.HTTPError(409, f"kernel {kernel_id} does not have nbml loaded")
        token = presence.request_stop(where, kernel_id, model)
        self.set_status(202)
        self.finish(json.dumps({"kernel": kernel_id, "model": model, "request": token}))


class InspectHandler(APIHandler):
    """``GET /nbml/kernels/<id>/inspect/<run id>[?since=EPOCH]``: that run's inspector records
    (layers, records after epoch ``since``, notes) as the kernel's run store has them (the folder
    its snapshot names), for the panel's inspector of a kernel no document there holds.
    Read-only."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str, run_id: str) -> None:
        since = self.get_argument("since", "0")
        if not since.isdigit() or len(since) > 9:
            raise web.HTTPError(400, "since must be an epoch number (a whole number >= 0)")
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, f"no kernel {kernel_id}")
        where = _connection_dir(self.kernel_manager.get_kernel(kernel_id))
        snapshot = presence.read_snapshot(where, kernel_id) if where else None
        if snapshot is None:
            raise web.HTTPError(409, f"kernel {kernel_id} does not have nbml loaded")
        store = snapshot.get("store")
        if not isinstance(store, str) or not store:
            raise web.HTTPError(404, f"kernel {kernel_id} keeps no run store")
        try:
            found = await asyncio.get_running_loop().run_in_executor(
                None, read_inspection, store, run_id, int(since)
            )
        except NotStored as e:
            raise web.HTTPError(404, str(e)) from None
        except (sqlite3.Error, OSError, ValueError) as e:
            raise web.HTTPError(503, f"the run store could not be read: {e}") from None
        body = {"version": presence.VERSION, "kernel": kernel_id, **found}
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(json_safe(body), allow_nan=False))


def sweep(runtime_dir: str) -> int:
    """Remove the snapshots of kernels whose process is gone (killed kernels leave theirs)."""
    removed = 0
    for path in glob.glob(os.path.join(glob.escape(presence.folder(runtime_dir)), "*.json")):
        name = os.path.basename(path)[: -len(".json")]
        if not presence.valid_id(name) or ".stop-" in name:
            continue
        if presence.read_snapshot(runtime_dir, name) is None and not os.path.exists(path):
            removed += 1
    return removed


def setup_handlers(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base = web_app.settings.get("base_url", "/")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "nbml", "kernels"), KernelsHandler),
            (url_path_join(base, "nbml", "kernels", _KERNEL_ID, "stop"), StopHandler),
            (
                url_path_join(base, "nbml", "kernels", _KERNEL_ID, "inspect", _RUN_ID),
                InspectHandler,
            ),
        ],
    )
    with contextlib.suppress(OSError):
        sweep(serverapp.runtime_dir)
