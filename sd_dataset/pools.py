"""Process pools whose workers never outlive the run that started them.

A pool's workers wait for work on a pipe; when the run is killed (SIGKILL, the
session's end, the out-of-memory killer) nobody shuts the pool down, and on Linux
the pipe never reports its end either, because every forked worker holds a copy
of it.  So each worker arranges its own end as it starts: on Linux the kernel
kills it when its parent dies (``PR_SET_PDEATHSIG``, set through ``prctl``);
elsewhere, or under a start method whose parent is not the run (forkserver), a
thread of the worker waits on multiprocessing's handle of the parent process and
ends the worker when it fires.  The run itself shuts its pool down on every way
out (see ``augment._Runner``).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, each ending when the process that made the pool ends."""
    return ProcessPoolExecutor(max_workers=workers, initializer=end_with_parent, initargs=(os.getpid(),))


def end_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid``, the run that started it, ends."""
    if sys.platform.startswith("linux") and os.getppid() == parent_pid and _kill_me_with_my_parent():
        if os.getppid() != parent_pid:  # it died before the kernel was told: nothing will send the signal
            os._exit(1)
        return
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_when_set, args=(parent.sentinel,), name="end-with-parent", daemon=True).start()


def _kill_me_with_my_parent() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no C library to ask, or no prctl in it
        return False


def _exit_when_set(sentinel) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)
