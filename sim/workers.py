"""Where chunks of patients run: in this process, in local worker processes, or on Dask.

Every backend runs the same :func:`sim.cohort.run_chunk` on the same fixed chunks and
yields the results in chunk order, so the merged output does not depend on where or in
how many processes the patients ran. At most a few chunks per worker are in flight at a
time, so memory stays bounded however many patients are asked for.

Local workers are started with the ``forkserver`` method (safe with threads in the
parent, e.g. a progress bar) and ignore SIGINT: Ctrl-C reaches the parent only, which
terminates the workers and stops.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from sim.errors import ClusterError, InputError, quoted

if TYPE_CHECKING:
    from sim.cohort import ChunkResult, CohortSetup
    from sim.spec.load import LoadedProtocol

IN_FLIGHT_PER_WORKER = 3
CONNECT_TIMEOUT_S = 20
POLL_S = 2.0
NO_WORKERS_S = 30.0
"""A Dask run with no workers at all for this long stops with an error (exit code 1)."""
CLOSE_TIMEOUT_S = 5
MAX_WORKERS = 256


def _ignore_sigint() -> None:
    # Ctrl-C and a closed terminal reach the whole process group: only the parent acts on
    # them. SIGTERM keeps its default action: it is how the parent stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _run_chunk(args: tuple[Any, ...]) -> ChunkResult:
    from sim.cohort import run_chunk

    return run_chunk(*args)


def run_chunks(
    protocols: Sequence[LoadedProtocol],
    setup: CohortSetup,
    chunks: Sequence[tuple[int, int]],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    keep_rows: bool = False,
    keep_events: bool = False,
) -> Iterator[ChunkResult]:
    """Run every chunk of one cohort; yield the results in chunk order."""
    jobs = [(list(protocols), setup, a, b, keep_rows, keep_events) for a, b in chunks]
    return run_jobs(jobs, workers=workers, scheduler=scheduler)


def run_jobs(
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    task: Callable[[tuple[Any, ...]], Any] = _run_chunk,
) -> Iterator[Any]:
    """Run ``task`` (by default :func:`sim.cohort.run_chunk`) on each argument tuple; yield
    results in job order. ``task`` must be a module-level function (it is pickled).

    Jobs may belong to different cohorts (``cartsim calibrate`` runs every target's
    cohort in one pool), so small cohorts still keep every worker busy.
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise InputError.single("--workers", f"must be between 1 and {MAX_WORKERS}, got {workers}")
    return _run_jobs(list(jobs), workers, scheduler, task)


def _run_jobs(
    jobs: list[tuple[Any, ...]],
    workers: int,
    scheduler: str | None,
    task: Callable[[tuple[Any, ...]], Any],
) -> Iterator[Any]:
    if scheduler is not None:
        yield from _on_dask(jobs, scheduler, task)
    elif workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield task(job)
    else:
        yield from _on_processes(jobs, workers, task)


def _on_processes(
    jobs: list[tuple[Any, ...]], workers: int, task: Callable[[tuple[Any, ...]], Any]
) -> Iterator[Any]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["sim.cohort", "sim.workers"])
    pool = context.Pool(processes=min(workers, len(jobs)), initializer=_ignore_sigint)
    finished = False
    try:
        yield from pool.imap(task, jobs, chunksize=1)
        finished = True
    finally:
        if finished:
            pool.close()
        else:  # Ctrl-C or an error: do not wait for chunks nobody will read
            pool.terminate()
        pool.join()


_ADDRESS = re.compile(r"^(?:(?:tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


def check_address(address: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (or ``tls://``, or ``HOST:PORT``) -> (host, port); anything else
    is an input error at once (distributed would try to resolve it for up to a minute)."""
    match = _ADDRESS.match(address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise InputError.single(
            "--scheduler", f"{quoted(address)}: expected tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)"
        )
    return match.group(1).strip("[]"), int(match.group(2))


def _reachable(address: str) -> None:
    """Fail at once if nothing listens at the address (no Client is built, so nothing is
    left to time out at exit)."""
    host, port = check_address(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError.single("--scheduler", f"cannot reach {address}: {reason}") from None


def _result(client: Any, future: Any, address: str) -> Any:
    """The future's result; a cluster with no workers for :data:`NO_WORKERS_S` seconds, or a
    scheduler gone, is a :class:`ClusterError` (bounded wait, never silence)."""
    idle_since: float | None = None
    while True:
        try:
            return future.result(timeout=POLL_S)
        except TimeoutError:
            pass
        workers = len(client.nthreads())  # asks the scheduler; fails if it is gone
        if workers:
            idle_since = None
            continue
        now = time.monotonic()
        idle_since = now if idle_since is None else idle_since
        if now - idle_since >= NO_WORKERS_S:
            raise ClusterError(
                f"--scheduler {address}: no workers left for {NO_WORKERS_S:g} s; stopped"
            )


def _connect(client_class: Any, address: str) -> Any:
    """A connected ``Client``, or an input error within about :data:`CONNECT_TIMEOUT_S`
    seconds, even when something that is not a scheduler accepts the connection and never
    answers (distributed would then wait without end): the client is made in a daemon
    thread and abandoned if it is not ready in time."""
    client = client_class.__new__(client_class)
    outcome: list[BaseException | None] = []

    def build() -> None:
        try:
            client.__init__(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except BaseException as exc:  # reported by the caller's thread
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=build, name="cartsim-dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S + 5)
    if not outcome or outcome[0] is not None:
        _abandon(client)
        error = outcome[0] if outcome else None
        if error is None:
            reason = f"no answer within {CONNECT_TIMEOUT_S} s"
        elif isinstance(error, OSError | ValueError):
            reason = str(error)
        else:  # distributed failing on a peer that is not a scheduler
            reason = f"no Dask scheduler answered there ({type(error).__name__})"
        raise InputError.single("--scheduler", f"cannot reach {address}: {reason}")
    return client


def _abandon(client: Any) -> None:
    """A Client whose connection failed: mark it closed and stop its event loop, so that
    its finaliser does not wait 40 s at exit and print a traceback (distributed's
    ``Client.__del__`` closes any client whose loop was started)."""
    client.status = "closed"
    with contextlib.suppress(Exception):
        client._loop_runner.stop()


def _asyncio_cancelled() -> type[BaseException]:
    import asyncio  # here, not at the top: the command line starts without it

    return asyncio.CancelledError


def _on_dask(
    jobs: list[tuple[Any, ...]], address: str, task: Callable[[tuple[Any, ...]], Any]
) -> Iterator[Any]:
    try:
        from distributed import Client
    except ImportError:
        raise InputError.single(
            "--scheduler", "needs dask.distributed: pip install 'cartsim[dask]'"
        ) from None
    _reachable(address)
    client = _connect(Client, address)
    pending: deque[Any] = deque()
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = n_workers * IN_FLIGHT_PER_WORKER
        todo = iter(jobs)
        for job in todo:
            pending.append(client.submit(task, job, pure=False))
            if len(pending) >= limit:
                break
        while pending:
            result = _result(client, pending.popleft(), address)
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(client.submit(task, nxt, pure=False))
            yield result
    except (CancelledError, _asyncio_cancelled(), OSError) as exc:
        # the scheduler went away (CommClosedError is an OSError), or cancelled our work
        raise ClusterError(
            f"--scheduler {address}: lost the cluster ({type(exc).__name__}); stopped"
        ) from None
    finally:
        for fut in pending:
            with contextlib.suppress(Exception):
                fut.cancel()
        with contextlib.suppress(Exception):
            client.close(timeout=CLOSE_TIMEOUT_S)
