"""The clinic figure: ward and ICU beds in use over time per arm, and vein-to-vein times.

Drawing only: it takes a finished :class:`sim.clinic.replication.ClinicRun`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plots.style import ARM_COLOURS, style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.clinic.replication import ClinicRun


def clinic_figure(run: ClinicRun) -> Figure:
    from matplotlib.figure import Figure

    clinic = run.setup.clinic
    names = [lp.protocol.id for lp in run.setup.protocols]
    with style():
        fig = Figure(figsize=(10, 6.5), layout="constrained")
        beds_ax, icu_ax = fig.add_subplot(2, 2, (1, 2)), fig.add_subplot(2, 2, 3)
        v2v_ax = fig.add_subplot(2, 2, 4)
        for k, (name, occ) in enumerate(zip(names, run.occupancy, strict=True)):
            colour = ARM_COLOURS[k % len(ARM_COLOURS)]
            days = list(range(len(occ["beds"])))
            beds_ax.plot(days, occ["beds"], color=colour, lw=1.2, label=name)
            icu_ax.plot(days, occ["icu"], color=colour, lw=1.0, label=name)
        beds_ax.axhline(clinic.beds, color="grey", ls="--", lw=0.8, label=f"{clinic.beds} beds")
        icu_ax.axhline(clinic.icu_beds, color="grey", ls="--", lw=0.8)
        beds_ax.set(
            title=f"{clinic.title}: ward beds in use (daily mean over "
            f"{run.replications} replications)",
            xlabel="day of the simulated period",
            ylabel="ward beds in use",
        )
        beds_ax.legend(loc="upper left")
        icu_ax.set(title="ICU beds in use", xlabel="day", ylabel="ICU beds in use")
        data = [v or [0.0] for v in run.vein_to_vein_days]
        v2v_ax.boxplot(data, orientation="horizontal", tick_labels=names, showfliers=False)
        v2v_ax.set(
            title="vein-to-vein time (apheresis to first infusion)",
            xlabel="days",
        )
    return fig
