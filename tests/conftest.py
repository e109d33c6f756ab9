from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
# In-process tests keep runs in memory unless they open a store themselves: the API would
# otherwise attach .nbml/ in the current folder on first use
# (docs/reference.md#runs-and-the-store).
os.environ.setdefault("NBML_STORE_PATH", "")
# Compiled programs (nbml.training.compile_cache) go to a folder of this test session, shared
# by its kernels, not to ~/.cache.
if "NBML_COMPILE_CACHE" not in os.environ:
    os.environ["NBML_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="nbml-xla-")
    atexit.register(shutil.rmtree, os.environ["NBML_COMPILE_CACHE"], True)
sys.path.insert(0, str(Path(__file__).parent))

from kernel import Kernel  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A real ipykernel with nbml loaded, shared by the tests of one module."""
    k = Kernel(str(tmp_path_factory.mktemp("kernel")))
    k.ok("%load_ext nbml\nimport keras, numpy as np")
    yield k
    k.shutdown()


@pytest.fixture
def fresh_registry():
    """No model left over from another test, and no run store left attached after this one."""
    import nbml.store
    from nbml.core.registry import REGISTRY

    for name in REGISTRY.names():
        REGISTRY.remove(name)
    yield
    nbml.store.close()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL 16 server for this test session, from the pgserver package (no system
    install; as root too), listening on a unix socket in its data folder; stopped at the end."""
    import warnings

    with warnings.catch_warnings():  # its import: platformdirs' "XDG_RUNTIME_DIR is not set"
        warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR")
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's PostgreSQL server, as the ``--storage`` URL
    (``postgresql+psycopg2://postgres:@/DATABASE?host=SOCKET_FOLDER``) kernels and Dask workers
    on this machine reach."""
    import uuid

    database = f"sweeps_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {database};")
    uri = postgres_server.get_uri(database=database)
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)
