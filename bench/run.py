"""cartsim benchmarks: each figure is a ratio against a baseline measured in the same run.

    python bench/run.py                 # every benchmark at issue 5 sizes (~1 h on 2 cores)
    python bench/run.py overhead --patients 2000     # one benchmark, smaller
    python bench/run.py memory --big 200000

Benchmarks are not tests: the machine they run on is shared and noisy, so they report
ratios (cartsim vs a baseline timed next to it), never absolute targets.

- overhead: wall time of a cohort of each built-in protocol divided by the wall time of a
  bare SimPy loop that processes the same number of events with trivial processes
  (target <= 3). For scale, the same loop that also makes one event-log row per event
  (as cartsim logs every gate check, dose and state change) is timed too.
- workers: ``compare --workers 2`` vs ``--workers 1`` (target >= 1.8x faster), with
  byte-identical ``--json --no-timing`` output.
- memory: peak RSS of ``cohort`` at a big vs a small cohort (target <= 1.2x).
- startup: ``cartsim --help`` and ``cartsim run <scenario>`` vs
  ``python -c "import simpy, numpy, pydantic, typer"`` (target <= 1.5x).
- yaml: seconds to check a generated 2 MB protocol-like YAML file with LibYAML's parser vs
  pure-Python PyYAML (no target; the file size limit is 2 MB).
- clinic: ``cartsim clinic clinics/academic-centre.yaml`` with both example protocols
  (730 days x 20 replications) at ``--workers 1`` and ``2`` (issue 17: minutes on 2 cores,
  identical JSON), and the clinic's overhead: one replication in the shared environment
  vs the same referred patients' courses each run alone (the ratio).
- ceiling: two processes vs one on a trivial CPU loop, ``--repeat`` times: how much a
  2-worker run could gain on this shared machine at the time (no target; a noise gauge).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

CLI = [sys.executable, "-m", "sim"]


def _wall(cmd: list[str], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _simpy_loop(events: int, per_patient: int, patient: Callable[[Any, int], Any]) -> float:
    """Seconds to process ``events`` SimPy events: one environment per 'patient', running
    the process ``patient(env, n)`` that yields ``n`` timeouts."""
    import simpy

    start = time.perf_counter()
    done = 0
    while done < events:
        env = simpy.Environment()
        # Environment start + process init + n timeouts + process end = n + 2 events
        n = max(1, min(per_patient, events - done) - 2)
        env.process(patient(env, n))
        env.run()
        done += n + 2
    return time.perf_counter() - start


def bare_simpy(events: int, per_patient: int) -> float:
    """Seconds for a bare SimPy loop: trivial processes, ``events`` events in all."""

    def patient(env: Any, n: int) -> Any:
        for _ in range(n):
            yield env.timeout(1.0)

    return _simpy_loop(events, per_patient, patient)


def logged_simpy(events: int, per_patient: int) -> float:
    """:func:`bare_simpy`, plus one event-log row per event, made as cartsim makes its rows
    (:func:`sim.records.make_event`): what any engine that logs every event must pay."""
    from sim.records import Event, make_event

    row = {"variable": "crs_grade", "old": 0, "new": 1, "cause": "virtual patient: crs"}

    def patient(env: Any, n: int) -> Any:
        log: list[Event] = []
        for _ in range(n):
            yield env.timeout(1.0)
            log.append(make_event(env.now, "state_change", row))

    return _simpy_loop(events, per_patient, patient)


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    from sim.cohort import CohortSetup, compare
    from sim.spec.load import builtin_ids, load_protocol

    rows = {}
    for ident in builtin_ids("protocol"):
        population = "post-allo-relapse" if ident.startswith("car-dli") else "adult-rr-ball"
        lp = load_protocol(ident)
        start = time.perf_counter()
        run = compare([lp], CohortSetup(population=population, seed=1), args.patients)
        wall = time.perf_counter() - start
        per_patient = max(3, round(run.sim_events / args.patients))
        bare = bare_simpy(run.sim_events, per_patient)
        logged = logged_simpy(run.sim_events, per_patient)
        rows[ident] = {
            "patients": args.patients,
            "sim_events": run.sim_events,
            "cartsim_s": round(wall, 3),
            "bare_simpy_s": round(bare, 3),
            "ratio": round(wall / bare, 1),
            "logged_simpy_s": round(logged, 3),
            "logged_ratio": round(logged / bare, 2),
        }
        print(
            f"  {ident:<24} {run.sim_events:>9} events  cartsim {wall:7.2f} s  "
            f"bare SimPy {bare:6.3f} s  ratio {wall / bare:6.1f}  "
            f"(SimPy + one log row per event: {logged / bare:4.2f})",
            flush=True,
        )
    return rows


def workers(args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        *CLI,
        "compare",
        "cart19-be-02",
        "msk-19-28z",
        "--patients",
        str(args.patients),
        "--json",
        "--no-timing",
        "-q",
    ]
    out: dict[int, bytes] = {}
    wall: dict[int, float] = {}
    for w in (1, 2):
        start = time.perf_counter()
        out[w] = subprocess.run([*cmd, "--workers", str(w)], check=True, capture_output=True).stdout
        wall[w] = time.perf_counter() - start
    row = {
        "patients": args.patients,
        "workers_1_s": round(wall[1], 2),
        "workers_2_s": round(wall[2], 2),
        "speed_up": round(wall[1] / wall[2], 2),
        "identical_json": out[1] == out[2],
    }
    print(f"  {row}", flush=True)
    return row


def clinic(args: argparse.Namespace) -> dict[str, Any]:
    from sim.clinic.arrivals import referrals
    from sim.clinic.load import load_clinic
    from sim.clinic.replication import ClinicSetup, person, run_replication
    from sim.engine.run import run_course
    from sim.engine.virtual_patient import VirtualPatient
    from sim.spec.load import load_protocol

    ids = ["cart19-be-02", "tisagenlecleucel-label"]
    cmd = [*CLI, "clinic", "academic-centre", "--protocol", ids[0], "--protocol", ids[1]]
    cmd += ["--days", str(args.days), "--replications", str(args.replications)]
    cmd += ["--json", "--no-timing", "-q"]
    out: dict[int, bytes] = {}
    wall: dict[int, float] = {}
    for w in (1, 2):
        start = time.perf_counter()
        out[w] = subprocess.run([*cmd, "--workers", str(w)], check=True, capture_output=True).stdout
        wall[w] = time.perf_counter() - start
    loaded = load_clinic("academic-centre")
    protocols = [load_protocol(p) for p in ids]
    setup = ClinicSetup.of(loaded.clinic, protocols, 0, args.days)
    start = time.perf_counter()
    run_replication(setup, 0, keep_rows=False)
    in_clinic = time.perf_counter() - start
    refs = referrals(loaded.clinic.arrivals, 0, 0, args.days)
    start = time.perf_counter()
    for lp in protocols:
        for ref in refs:
            patient, latent, cohort, _ = person(setup, 0, ref)
            biology = VirtualPatient(cohort.parameters(), latent)
            run_course(lp.protocol, patient, toxicity=biology)
    alone = time.perf_counter() - start
    row = {
        "days": args.days,
        "replications": args.replications,
        "workers_1_s": round(wall[1], 2),
        "workers_2_s": round(wall[2], 2),
        "identical_json": out[1] == out[2],
        "one_replication_s": round(in_clinic, 2),
        "same_patients_alone_s": round(alone, 2),
        "clinic_vs_alone": round(in_clinic / alone, 2),
    }
    print(f"  {row}", flush=True)
    return row


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def _ceiling_once(seconds: float = 2.0) -> float:
    import multiprocessing

    n = 1_000_000
    start = time.perf_counter()
    _spin(n)
    n = int(n * seconds / 2 / (time.perf_counter() - start))
    start = time.perf_counter()
    _spin(n)
    _spin(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("fork").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [n, n])
        parallel = time.perf_counter() - start
    return serial / parallel


def ceiling(args: argparse.Namespace) -> dict[str, Any]:
    """Two processes vs one on a trivial pure-Python loop: the most a 2-worker run could
    gain on this machine at the time (2.0 on two free cores)."""
    gains = [round(_ceiling_once(), 2) for _ in range(args.repeat)]
    row = {"two_process_gain": gains, "min": min(gains), "max": max(gains)}
    print(f"  {row}", flush=True)
    return row


def _peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Peak RSS (MB) of a command run in a fresh child, and its wall time."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
        "time.perf_counter() - t)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True
    )
    mb, secs = res.stdout.split()
    return float(mb), float(secs)


def memory(args: argparse.Namespace) -> dict[str, Any]:
    base = [*CLI, "cohort", args.protocol, "--json", "-q", "--workers", str(args.workers)]
    small_mb, _ = _peak_rss_mb([*base, "--patients", str(args.small)])
    big_mb, big_s = _peak_rss_mb([*base, "--patients", str(args.big)])
    row = {
        "protocol": args.protocol,
        "small_patients": args.small,
        "big_patients": args.big,
        "small_peak_rss_mb": round(small_mb, 1),
        "big_peak_rss_mb": round(big_mb, 1),
        "big_wall_s": round(big_s, 1),
        "ratio": round(big_mb / small_mb, 3),
    }
    print(f"  {row}", flush=True)
    return row


def startup(args: argparse.Namespace) -> dict[str, Any]:
    """The three commands are timed in turn, ``--repeat`` rounds, so that a change in the
    machine's load falls on all three alike; each figure is the median of its rounds."""
    commands = {
        "imports": [sys.executable, "-c", "import simpy, numpy, pydantic, typer"],
        "help": [*CLI, "--help"],
        "run": [*CLI, "run", "fractionated-crs-hold"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            times[name].append(_wall(cmd))
    base, help_s, run_s = (statistics.median(times[name]) for name in commands)
    row = {
        "imports_s": round(base, 3),
        "help_s": round(help_s, 3),
        "run_scenario_s": round(run_s, 3),
        "help_ratio": round(help_s / base, 2),
        "run_ratio": round(run_s / base, 2),
    }
    print(f"  {row}", flush=True)
    return row


def yaml_speed(args: argparse.Namespace) -> dict[str, Any]:
    from sim.spec import yamlio

    item = "  - {name: item%d, cells_per_kg: 1.0e6, note: 'a longer text to fill the line up'}\n"
    text = "items:\n" + "".join(item % i for i in range(24_000))
    loaders = {"libyaml": yamlio._Loader, "pure_python": yamlio._PyLoader}
    row: dict[str, Any] = {"file_mb": round(len(text) / 1e6, 2)}
    try:
        for name, loader in loaders.items():
            yamlio._Loader = loader
            start = time.perf_counter()
            yamlio.parse_yaml(text)
            row[f"{name}_s"] = round(time.perf_counter() - start, 2)
    finally:
        yamlio._Loader = loaders["libyaml"]
    row["speed_up"] = round(row["pure_python_s"] / row["libyaml_s"], 1)
    print(f"  {row}", flush=True)
    return row


BENCHES: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], str]] = {
    "overhead": (overhead, "engine overhead vs a bare SimPy loop (target <= 3)"),
    "workers": (workers, "--workers 2 vs 1 (target >= 1.8x, identical output)"),
    "memory": (memory, "peak RSS, big vs small cohort (target <= 1.2x)"),
    "startup": (startup, "start-up vs bare imports (target <= 1.5x)"),
    "yaml": (yaml_speed, "checking a 2 MB YAML file: LibYAML vs pure-Python PyYAML"),
    "clinic": (clinic, "cartsim clinic, 730 days x 20 replications, workers 1 vs 2; overhead"),
    "ceiling": (ceiling, "2 processes vs 1 on a trivial loop (what the machine allows now)"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", nargs="*", choices=[*BENCHES, []], default=[])
    parser.add_argument(
        "--patients", type=int, default=None, help="cohort size (overhead: 20000; workers: 40000)"
    )
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--protocol", default="tisagenlecleucel-label")
    parser.add_argument("--workers", type=int, default=2, help="memory bench worker count")
    parser.add_argument("--repeat", type=int, default=5, help="start-up repeats (median)")
    parser.add_argument("--days", type=int, default=730, help="clinic bench: days simulated")
    parser.add_argument("--replications", type=int, default=20, help="clinic bench")
    parser.add_argument("--out", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    results = {}
    for name in args.which or list(BENCHES):
        fn, title = BENCHES[name]
        sub = argparse.Namespace(**vars(args))
        if sub.patients is None:
            sub.patients = {"overhead": 20_000, "workers": 40_000}.get(name, 0)
        print(f"{name}: {title}", flush=True)
        results[name] = fn(sub)
    results["machine"] = {
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "load_1min": round(__import__("os").getloadavg()[0], 2),
    }
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")


if __name__ == "__main__":
    main()
