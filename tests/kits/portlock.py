"""A lock on a fixed port shared by every process of this machine.

``ektp walk`` starts the central-system emulator on the port its profile names (127.0.0.1:4800), and
a walk that finds another walk's emulator there uses it, with the wrong token. Whatever starts
something on such a fixed port takes this lock first, so two never run at once: docs_run's threads,
pytest-xdist's workers, or another checkout's test run on the same machine.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def port_lock(port: int) -> Iterator[None]:
    """Hold the machine-wide lock of ``port`` while inside (waits for the holder to let it go)."""
    path = Path(tempfile.gettempdir()) / f"ektp-tests-port-{port}.lock"
    # flock: the kernel drops it when the holder dies, and two open() of the file (two threads of one
    # process too) exclude each other.
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
