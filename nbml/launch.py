"""``python -m nbml.launch --processes 2 script.py [ARGS]``: one script, several processes, on
one machine (docs/multihost.md).

It only starts the processes: each gets the coordinator's address (a free port on 127.0.0.1),
the number of processes and its own id in the variables ``keras.distribution.initialize()``
reads (``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``_NUM_PROCESSES``, ``_PROCESS_ID``), JAX's CPU
collectives over gloo, and the time a process waits for the others (``--timeout``, read by
nbml as ``NBML_DISTRIBUTED_TIMEOUT``). Each output line is prefixed with its process id. On a
cluster, SLURM's ``srun`` or Open MPI's ``mpirun`` start the processes instead, and
``keras.distribution.initialize()`` finds the coordinator itself.

The launcher ends with the first failing process's exit status; a process still running
``--timeout`` seconds (plus a grace of 10) after another failed is stopped, with one line saying
so. Nothing here imports Keras or JAX.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from typing import IO

GRACE_S = 10.0


def free_port() -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(process_id: int, processes: int, address: str, timeout: float) -> dict[str, str]:
    """The environment of process ``process_id`` (this one's, plus the job's variables)."""
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    env.update(
        KERAS_DISTRIBUTION_JOB_ADDRESSES=address,
        KERAS_DISTRIBUTION_NUM_PROCESSES=str(processes),
        KERAS_DISTRIBUTION_PROCESS_ID=str(process_id),
        JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
        NBML_DISTRIBUTED_TIMEOUT=f"{timeout:g}",
        PYTHONUNBUFFERED="1",
    )
    return env


def _relay(index: int, stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(f"[{index}] {line}")
        sys.stdout.flush()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m nbml.launch",
        description="Start one Python script as several processes of one Keras/JAX job.",
    )
    p.add_argument("--processes", "-n", type=int, default=2, help="how many (default 2)")
    p.add_argument("--port", type=int, default=0, help="the coordinator's port (default: free)")
    p.add_argument(
        "--timeout", type=float, default=300.0,
        help="seconds a process waits for the others before it stops (default 300)",
    )  # fmt: skip
    p.add_argument("script", help="the Python script every process runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    args = p.parse_args(argv)
    if args.processes < 1:
        p.error(f"--processes takes a whole number of at least 1, not {args.processes}")
    if not os.path.isfile(args.script):
        p.error(f"no script at {args.script}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    address = f"127.0.0.1:{args.port or free_port()}"
    procs, relays = [], []
    for i in range(args.processes):
        proc = subprocess.Popen(
            [sys.executable, args.script, *args.args],
            env=environment(i, args.processes, address, args.timeout),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        relay = threading.Thread(target=_relay, args=(i, proc.stdout), daemon=True)
        relay.start()
        relays.append(relay)
    status = _wait(procs, address, args.timeout + GRACE_S)
    for relay in relays:
        relay.join(5.0)
    return status


def _wait(procs: list[subprocess.Popen], address: str, patience: float) -> int:
    """Wait for every process; after the first failure, the others get ``patience`` seconds."""
    failed: tuple[int, int] | None = None
    deadline = None
    while any(p.poll() is None for p in procs):
        if failed is None:
            failed = next(((i, p.returncode) for i, p in enumerate(procs) if p.returncode), None)
            if failed is not None:
                deadline = time.monotonic() + patience
        if deadline is not None and time.monotonic() > deadline:
            left = [str(i) for i, p in enumerate(procs) if p.poll() is None]
            print(
                f"nbml.launch: process {failed[0]} exited with status {failed[1]}; stopped "
                f"process {', '.join(left)} still waiting after {patience:g} s "
                f"(coordinator {address}).",
                file=sys.stderr,
                flush=True,
            )
            for i in left:
                procs[int(i)].kill()
            break
        time.sleep(0.1)
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)


if __name__ == "__main__":
    sys.exit(main())
