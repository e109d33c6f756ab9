"""Messages from one training to the frontend (docs/reference.md#budgets): rate and total bytes.

In one real kernel, ``%%train`` with the live monitor widget trains the reference workload
(60,000 x 784 float32, batch 32, validation 0.2) for 2 and then for 20 epochs. Every comm
message the kernel sends during the cell is counted (``comm_open`` with the widget's state and
bundled JavaScript, trait updates, live ``tick`` messages) with its JSON size; the highest
number of messages in any one-second window is reported against ``1 / update_interval``.

Run: ``.venv/bin/python benchmarks/messages.py`` (``--samples`` to shrink it).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from overhead import Kernel, model_code  # noqa: E402  (the model of docs/reference.md#budgets)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "messages.json"


def comm_traffic(kernel: Kernel, code: str) -> dict[str, dict[str, float]]:
    """Run ``code``; count its comm messages, per channel, with their times and sizes.

    ``monitor``: the comms the cell opened (the training monitor widget and its layout);
    ``sidebar``: the ``nbml`` comm opened when the extension loaded (sidebar pushes).
    """
    msg_id = kernel.kc.execute(code)
    opened: set[str] = set()
    seen: dict[str, list[tuple[float, int, bool]]] = {"monitor": [], "sidebar": []}
    t0 = time.monotonic()
    while True:
        try:
            msg = kernel.kc.get_iopub_msg(timeout=5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            break
        if kind in ("comm_open", "comm_msg", "comm_close"):
            comm_id = msg["content"]["comm_id"]
            if kind == "comm_open":
                opened.add(comm_id)
            channel = "monitor" if comm_id in opened else "sidebar"
            size = len(json.dumps(msg["content"], default=str))
            seen[channel].append((msg["header"]["date"].timestamp(), size, kind == "comm_open"))
    kernel.kc.get_shell_msg(timeout=60)
    seconds = time.monotonic() - t0
    out = {}
    for channel, items in seen.items():
        stamps = [s for s, _, _ in items]
        out[channel] = {
            "seconds": seconds,
            "messages": len(items),
            "comm_open": sum(o for _, _, o in items),
            "bytes": sum(b for _, b, _ in items),
            "bytes_without_open": sum(b for _, b, o in items if not o),
            "max_per_second": max(
                (sum(1 for s in stamps if t <= s < t + 1) for t in stamps), default=0
            ),
            # updates only: the widget's creation (its comm_open messages) is not an update
            "max_updates_per_second": max(
                (
                    sum(1 for s, _, o in items if not o and t <= s < t + 1)
                    for t, _, opened_here in items
                    if not opened_here
                ),
                default=0,
            ),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60_000)
    p.add_argument("--features", type=int, default=784)
    p.add_argument("--epochs", default="2,20", help="comma-separated epoch counts")
    p.add_argument("--interval", type=float, default=0.1, help="NbmlMagics.update_interval")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="nbml-msg-") as cwd:
        kernel = Kernel(cwd)
        try:
            kernel.ok(
                "%load_ext nbml\nimport keras, numpy as np\n"
                f"%config NbmlMagics.update_interval = {args.interval}\n"
                "_r = np.random.default_rng(0)\n"
                f"data = (_r.random(({args.samples}, {args.features}), dtype=np.float32), "
                f"_r.integers(0, 10, {args.samples}))"
            )
            model = model_code(args.features)
            for epochs in [int(e) for e in args.epochs.split(",")]:
                code = f"%%train m{epochs} --data data --epochs {epochs} --test-split 0\n{model}"
                results[epochs] = comm_traffic(kernel, code)
                for channel, r in results[epochs].items():
                    print(
                        f"{epochs:>3} epochs, {channel}: {r['seconds']:.1f}s, {r['messages']} "
                        f"comm messages ({r['comm_open']} open), {r['bytes'] / 1024:.1f} KB "
                        f"({r['bytes_without_open'] / 1024:.1f} KB after the open), "
                        f"max {r['max_per_second']} per second "
                        f"({r['max_updates_per_second']} updates, without the opens)",
                        flush=True,
                    )
        finally:
            kernel.shutdown()
    keys = sorted(results)
    if len(keys) >= 2:
        for channel in ("monitor", "sidebar"):
            a, b = results[keys[0]][channel], results[keys[-1]][channel]
            ratio = b["bytes"] / max(a["bytes"], 1)
            print(
                f"{channel}: bytes for {keys[-1]} epochs / {keys[0]} epochs: {ratio:.2f} "
                "(budget: within 10x)"
            )
        print(f"budget per second: {1 / args.interval:.0f} messages")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"interval": args.interval, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
