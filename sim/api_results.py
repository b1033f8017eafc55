"""What the Python API returns: results with DataFrames, ``to_json()`` and Jupyter display.

Each result wraps what the library computed (a :class:`~sim.engine.run.RunResult`, a
:class:`~sim.cohort.Comparison`, a :class:`~sim.paths.PathTree`, calibration rows) and
derives everything else from it with the functions the commands use: ``to_json()`` is
the command's ``--json`` object; the DataFrames are its tables (the event table is the
``--events`` file's, the patient table the ``--patients-out`` file's); ``_repr_html_``
uses the HTML report's pieces. Nothing is simulated here.

pandas is imported only when a DataFrame is asked for (:func:`pandas`).
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from sim.engine.run import RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.cohort import CohortSetup, Comparison
    from sim.exports.tables import Column
    from sim.paths import PathTree
    from sim.spec.load import LoadedProtocol

PANDAS_MISSING = (
    'cartsim\'s DataFrames need pandas, an optional extra: pip install "cartsim[pandas]"'
)
_FIGURE_IDS = itertools.count(1)  # distinct SVG ids for each figure shown in one notebook


def pandas() -> Any:
    """The pandas module, or an ImportError that names the extra to install."""
    try:
        return importlib.import_module("pandas")
    except ImportError as exc:
        raise ImportError(PANDAS_MISSING) from exc


def frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Any:
    """A DataFrame of ``rows`` (``columns`` fixes their order, and the columns of none)."""
    return pandas().DataFrame.from_records(list(rows), columns=columns)


_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean"}  # nullable ints, bools


def table_frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> Any:
    """A DataFrame of an export table's rows, with each column's declared type (a
    missing value is NaN or <NA>)."""
    df = frame(rows, [c.name for c in columns])
    kinds = {c.name: _DTYPES[c.type] for c in columns if c.type in _DTYPES}
    return df.astype(kinds)


def estimate_rows(
    metrics: Mapping[str, Mapping[str, Any]], **keys: Any
) -> Iterator[dict[str, Any]]:
    """One row per metric of a ``--json`` metrics object, after the ``keys`` columns."""
    for slug, est in metrics.items():
        yield {**keys, "metric": slug, **est}


@contextmanager
def progress(total: int, label: str, show: bool) -> Iterator[Callable[[int], None]]:
    """The commands' progress bar (on a terminal's stderr only), when ``show``."""
    from sim.report.progress import progress_bar

    with progress_bar(total, label, enabled=show) as advance:
        yield advance


def _figure_html(fig: Figure, caption: str) -> str:
    from sim.report import html_parts

    key = f"cartsim-fig{next(_FIGURE_IDS)}"
    return html_parts.figure(fig, key, caption, key)


@dataclass(frozen=True)
class Run:
    """One patient's run: the event log and everything derived from it.

    ``result`` is the engine's :class:`~sim.engine.run.RunResult`; ``patient_index`` the
    virtual patient's index when one was asked for (it fills the ``patient`` column).
    """

    result: RunResult
    patient_index: int | None = None

    @property
    def protocol(self) -> Any:
        """The protocol that ran (a :class:`sim.spec.protocol.Protocol`)."""
        return self.result.protocol

    @property
    def patient(self) -> Any:
        """The patient's covariates (a :class:`sim.spec.scenario.Patient`)."""
        return self.result.patient

    @property
    def events(self) -> Any:
        """The event log, one tidy row per event: the ``--events`` table
        (``docs/exports.md`` documents every column)."""
        from sim.exports.events import EVENT_COLUMNS, event_rows

        return table_frame(event_rows(self.result, self.patient_index), EVENT_COLUMNS)

    @property
    def ledger(self) -> Any:
        """Each CAR-T dose given: fraction, time, cells/kg, cells, dose level."""
        from sim.records import ledger

        return frame(ledger(self.result.events), _LEDGER)

    @property
    def schedule(self) -> Any:
        """Planned vs given, one row per fraction: status, hours held, reason."""
        from sim.records import schedule

        return frame(schedule(self.result.events), _SCHEDULE)

    @property
    def decisions(self) -> Any:
        """Every gate check: time, fraction, action, rule, reason and the state it read."""
        from sim.records import decisions

        return frame(decisions(self.result.events), _DECISIONS)

    @property
    def metrics(self) -> Any:
        """The run's metrics (the ``metrics`` of ``--json``) as a one-row DataFrame."""
        from sim.metrics import patient_metrics

        return frame([patient_metrics(self.result.events)])

    @property
    def outcomes(self) -> Any:
        """The patient's row of a cohort's patient table (``--patients-out``): covariates
        and outcomes. With the cohort's follow-up (``horizon_day=760``), equal to that
        patient's row of :attr:`Cohort.patients`."""
        from sim.exports.patients import PATIENT_COLUMNS, patient_row
        from sim.outcomes import patient_outcomes

        row = patient_row(
            self.result.protocol.id,
            self.patient_index,
            self.result.patient,
            patient_outcomes(self.result.events),
        )
        return table_frame([row], PATIENT_COLUMNS)

    def to_json(self) -> dict[str, Any]:
        """What ``cartsim run TARGET --json`` prints, as a dict."""
        from sim.report.trace import run_json

        return run_json(self.result)

    def explain(self) -> list[str]:
        """The run in plain language, as ``cartsim explain`` prints it."""
        from sim.report.explain import explain_lines

        return list(explain_lines(self.result))

    def timeline(self, until_day: float | None = None) -> Figure:
        """The timeline figure (matplotlib), as ``cartsim plot TARGET -o FILE`` draws it."""
        from sim.plots.timeline import timeline_figure

        return timeline_figure(self.result, until_day=until_day)

    def __repr__(self) -> str:
        from sim.metrics import patient_metrics

        m = patient_metrics(self.result.events)
        who = self.result.scenario or f"virtual patient {self.patient_index or 0}"
        return (
            f"<cartsim run: {self.result.protocol.id}, {who}, seed {self.result.seed}: "
            f"{m['fractions_given']} of {m['fractions_planned']} fractions given, "
            f"{m['holds']} hold(s){', stopped' if m['stopped'] else ''}>"
        )

    def _repr_html_(self) -> str:
        from sim.report import html_parts

        p = self.result.protocol
        who = self.result.scenario or f"virtual patient {self.patient_index or 0}"
        return "\n".join(
            [
                f"<h3>{escape(p.id)}: {escape(who)}, seed {self.result.seed}</h3>",
                _figure_html(self.timeline(), "Timeline drawn from the event log"),
                "<h4>Schedule: planned vs given</h4>",
                html_parts.schedule_table(self.result.events, ""),
                "<h4>Holds, skips, reductions and stops</h4>",
                html_parts.decisions_table(self.result.events, ""),
            ]
        )


_LEDGER = ("fraction", "phase", "time_h", "day", "cells_per_kg", "cells", "planned_cells",
           "carried_in_cells", "dose_level")  # fmt: skip
_SCHEDULE = ("fraction", "planned_time_h", "planned_cells", "planned_cells_per_kg", "status",
             "time_h", "cells", "cells_per_kg", "held_h", "reason")  # fmt: skip
_DECISIONS = ("time_h", "day", "fraction", "action", "rule", "reason", "state")
_ESTIMATE = ("metric", "value", "ci_low", "ci_high", "n", "method")


@dataclass(frozen=True)
class Cohort:
    """A cohort or a comparison: every arm's endpoints, paired differences, and per
    patient rows and events when they were kept."""

    comparison: Comparison
    patient_rows: list[dict[str, Any]] | None = None
    event_rows: list[dict[str, Any]] | None = None

    def to_json(self, timing: bool = True) -> dict[str, Any]:
        """What ``cartsim cohort`` / ``compare ... --json`` prints (``timing=False``:
        ``--no-timing``)."""
        return self.comparison.to_json(timing=timing)

    @property
    def metrics(self) -> Any:
        """One row per arm and endpoint: value, 95 % CI, n and method."""
        data = self.to_json(timing=False)
        rows = [
            row
            for arm in data["arms"]
            for row in estimate_rows(arm["metrics"], protocol=arm["protocol"])
        ]
        return frame(rows, ("protocol", *_ESTIMATE))

    @property
    def differences(self) -> Any:
        """Paired differences, each arm minus the first, on the same patients."""
        data = self.to_json(timing=False)
        rows = [
            row
            for diff in data["differences"]
            for row in estimate_rows(diff["metrics"], arm=diff["arm"], versus=diff["versus"])
        ]
        return frame(rows, ("arm", "versus", *_ESTIMATE))

    @property
    def patients(self) -> Any:
        """One row per patient and arm (the ``--patients-out`` table)."""
        from sim.exports.patients import PATIENT_COLUMNS

        if self.patient_rows is None:
            raise ValueError("patient rows were not kept (run with keep_patients=True)")
        return table_frame(self.patient_rows, PATIENT_COLUMNS)

    @property
    def events(self) -> Any:
        """Every patient's event log, one tidy row per event (the ``--events`` table)."""
        from sim.exports.events import EVENT_COLUMNS

        if self.event_rows is None:
            raise ValueError("events were not kept (run with keep_events=True)")
        return table_frame(self.event_rows, EVENT_COLUMNS)

    def __repr__(self) -> str:
        arms = ", ".join(lp.protocol.id for lp in self.comparison.protocols)
        c = self.comparison
        return f"<cartsim cohort: {arms}; {c.patients} patients per arm, seed {c.seed}>"

    def _repr_html_(self) -> str:
        from sim.report import html_parts

        data = self.to_json(timing=False)
        c = self.comparison
        return "\n".join(
            [
                f"<h3>{c.patients} virtual patients per arm (population {escape(c.population)}, "
                f"seed {c.seed}); 95 % CIs in brackets</h3>",
                html_parts.comparison_table(data, ""),
                html_parts.differences_table(data, ""),
            ]
        )


@dataclass(frozen=True)
class Sweep:
    """Every variant of a protocol on the same patients; ``labels`` name the variants
    by their settings, in the order of the cohort's arms."""

    cohort: Cohort
    labels: tuple[str, ...]

    def to_json(self, timing: bool = True) -> dict[str, Any]:
        """What ``cartsim sweep ... --json`` prints (``timing=False``: ``--no-timing``)."""
        from sim.report.sweep_table import sweep_json

        return sweep_json(self.cohort.to_json(timing), self.labels)

    @property
    def metrics(self) -> Any:
        """One row per variant and endpoint: value, 95 % CI, n and method."""
        rows = [
            row
            for v in self.to_json(timing=False)["variants"]
            for row in estimate_rows(v["metrics"], variant=v["variant"])
        ]
        return frame(rows, ("variant", *_ESTIMATE))

    @property
    def table(self) -> Any:
        """One row per variant, one column per endpoint (the point estimates)."""
        wide = self.metrics.pivot(index="variant", columns="metric", values="value")
        labels = [v["variant"] for v in self.to_json(timing=False)["variants"]]
        return wide.reindex(labels)

    @property
    def differences(self) -> Any:
        """Paired differences, each variant minus the first."""
        rows = [
            row
            for d in self.to_json(timing=False)["differences"]
            for row in estimate_rows(d["metrics"], variant=d["variant"], versus=d["versus"])
        ]
        return frame(rows, ("variant", "versus", *_ESTIMATE))

    def __repr__(self) -> str:
        n = self.cohort.comparison.patients
        return f"<cartsim sweep: {len(self.labels)} variants x {n} patients>"

    def _repr_html_(self) -> str:
        from sim.report import html_parts
        from sim.report.cohort_table import SHOWN, cell
        from sim.report.sweep_table import COLUMNS

        labels = {slug: (label, kind) for slug, label, kind in SHOWN}
        data = self.to_json(timing=False)
        headers = ["variant", *(labels[slug][0] for slug in COLUMNS)]
        rows = [
            [v["variant"], *(cell(v["metrics"][slug], labels[slug][1]) for slug in COLUMNS)]
            for v in data["variants"]
        ]
        return html_parts.table(headers, rows)


@dataclass(frozen=True)
class Paths:
    """The decision paths of a cohort: what happened to each fraction, as a tree."""

    tree: PathTree
    loaded: LoadedProtocol
    setup: CohortSetup
    crs_before: Mapping[int, Sequence[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """What ``cartsim paths ... --json`` prints."""
        from sim.paths import crs_before_json, tree_json

        return tree_json(
            self.tree,
            protocol=self.loaded.protocol.id,
            seed=self.setup.seed,
            population=self.setup.population,
            protocol_hash=self.loaded.hash,
            crs_before_fraction=crs_before_json(self.tree.fractions, self.crs_before),
        )

    @property
    def table(self) -> Any:
        """One row per branch, depth first: depth, fraction, outcome, patients, share of
        all patients with its 95 % Wilson CI, and share of the branch above."""
        from sim.stats import wilson

        rows = []
        for depth, node in self.tree.nodes():
            est = wilson(node.count, node.n).to_dict()
            rows.append(
                {
                    "depth": depth,
                    "fraction": node.fraction,
                    "outcome": node.outcome,
                    "path": " > ".join(node.path),
                    "patients": node.count,
                    "share": est["value"],
                    "ci_low": est["ci_low"],
                    "ci_high": est["ci_high"],
                    "share_of_parent": node.share_of_parent,
                }
            )
        return frame(rows)

    def __str__(self) -> str:
        from sim.paths import tree_lines

        return "\n".join(tree_lines(self.tree))

    def __repr__(self) -> str:
        return f"<cartsim paths: {self.loaded.protocol.id}, {self.tree.n} patients>"

    def _repr_html_(self) -> str:
        from sim.report import html_parts

        return html_parts.paths_table(self.tree, "")


@dataclass(frozen=True)
class Calibration:
    """Published vs simulated for every calibration target."""

    rows: list[dict[str, Any]]
    seed: int
    patients: int

    @property
    def passed(self) -> int:
        return sum(r["passes"] for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        """What ``cartsim calibrate --json`` prints."""
        return {"seed": self.seed, "patients": self.patients, "targets": self.rows,
                "passed": self.passed}  # fmt: skip

    @property
    def table(self) -> Any:
        """One row per target: published value and pass range, simulated value with its
        95 % CI, and whether it passes."""
        rows = []
        for r in self.rows:
            simulated = r["simulated"]
            flat = {k: v for k, v in r.items() if k != "simulated"}
            flat.update(
                simulated=simulated["value"],
                simulated_low=simulated["ci_low"],
                simulated_high=simulated["ci_high"],
                simulated_n=simulated["n"],
            )
            rows.append(flat)
        return frame(rows)

    def __repr__(self) -> str:
        return f"<cartsim calibration: {self.passed} of {len(self.rows)} targets reproduced>"

    def _repr_html_(self) -> str:
        from sim.report import html_parts

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.4g}"

        rows = [
            (
                r["id"],
                r["endpoint"],
                fmt(r["published"]),
                f"{fmt(r['published_low'])} to {fmt(r['published_high'])} ({r['rule']})",
                fmt(r["simulated"]["value"]),
                "pass" if r["passes"] else "FAIL",
            )
            for r in self.rows
        ]
        headers = ("target", "endpoint", "published", "pass range", "simulated", "")
        return html_parts.table(headers, rows) + (
            f"<p>{self.passed} of {len(self.rows)} targets reproduced</p>"
        )
