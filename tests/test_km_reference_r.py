"""Kaplan-Meier estimates and log-log intervals against R's survival package.

A cohort's ``--patients-out`` table goes to ``survfit(Surv(t, e) ~ 1, conf.type = "log-log")``
(Therneau, survival package; the interval is exp(-exp(log(-log S) +- z se / log S)) with
Greenwood's se, the same as :func:`sim.stats.km_at`). Compared:

* every event time of EFS and OS: S(t), the number at risk, Greenwood's standard error and
  both interval limits, from :mod:`sim.stats` on the same table, to 1e-9;
* the cohort's own 12-month EFS/OS and median EFS/OS (``--json``): the cohort keeps survival
  times to 3 significant digits (:func:`sim.tally.binned`) and writes 6 decimals, so R gets
  the binned times and agreement is to that rounding (5e-7 on probabilities, 5e-7 months).
  The median is the first time S <= 0.5 (R's ``quantile`` takes the midpoint when S is
  exactly 0.5 on a flat stretch; that case is computed in R both ways and checked).

Skipped when ``Rscript`` or the survival package is missing, unless ``CARTSIM_REQUIRE_R`` is
set (CI sets it after installing Debian's r-base-core and r-cran-survival): then it fails.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.stats import kaplan_meier, km_at
from sim.tally import MONTH_DAYS, YEAR_DAYS, binned

R_SCRIPT = r"""
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
out <- list()
for (kind in c("efs", "os")) {
  for (bin in c("raw", "binned")) {
    t <- d[[paste0(kind, "_", bin)]]
    e <- d[[paste0(kind, "_event")]] == 1
    fit <- survfit(Surv(t, e) ~ 1, conf.type = "log-log")
    keep <- fit$n.event > 0
    s12 <- summary(fit, times = as.numeric(args[3]), extend = TRUE)
    first_below <- function(curve) {
      hit <- fit$time[keep][curve[keep] <= 0.5]
      if (length(hit) == 0) NA else min(hit)
    }
    q <- quantile(fit, probs = 0.5)
    out[[paste(kind, bin)]] <- list(
      time = fit$time[keep], n_risk = fit$n.risk[keep], surv = fit$surv[keep],
      std_err = fit$std.err[keep], lower = fit$lower[keep], upper = fit$upper[keep],
      s12 = c(s12$surv, s12$lower, s12$upper),
      median_first = c(first_below(fit$surv), first_below(fit$lower), first_below(fit$upper)),
      median_r = c(q$quantile, q$lower, q$upper)
    )
  }
}
json <- function(x) {
  if (is.list(x)) {
    return(paste0("{", paste0('"', names(x), '":', sapply(x, json), collapse = ","), "}"))
  }
  paste0("[", paste(ifelse(is.na(x), "null", sprintf("%.17g", x)), collapse = ","), "]")
}
writeLines(json(out), args[2])
"""


def _r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(survival))"], capture_output=True, check=False
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not os.environ.get("CARTSIM_REQUIRE_R") and not _r_available(),
    reason="Rscript with the survival package is not installed (CI sets CARTSIM_REQUIRE_R)",
)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict]:
    assert _r_available(), "CARTSIM_REQUIRE_R is set but Rscript or survival is missing"
    folder = tmp_path_factory.mktemp("r")
    patients, summary = folder / "patients.csv", folder / "cohort.json"
    args = ["cohort", "cart19-be-02", "--patients", "150", "--seed", "4"]
    result = CliRunner().invoke(app, [*args, "--patients-out", str(patients), "--json"])
    assert result.exit_code == 0, result.output
    summary.write_text(result.stdout, encoding="utf-8")
    with patients.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table: dict[str, list[float]] = {}
    for kind in ("efs", "os"):
        raw = [float(r[f"{kind}_days"]) for r in rows]
        table[f"{kind}_raw"] = raw
        table[f"{kind}_binned"] = [binned(t) for t in raw]
        table[f"{kind}_event"] = [float(r[f"{kind}_event"] == "true") for r in rows]
    for_r = folder / "for_r.csv"
    with for_r.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table)
        writer.writerows(zip(*(map(repr, column) for column in table.values()), strict=True))
    script, answer = folder / "km.R", folder / "r.json"
    script.write_text(R_SCRIPT, encoding="utf-8")
    subprocess.run(
        ["Rscript", str(script), str(for_r), str(answer), repr(YEAR_DAYS)], check=True, timeout=300
    )
    return table, json.loads(answer.read_text()), json.loads(summary.read_text())["arms"][0]


@pytest.mark.parametrize("kind", ["efs", "os"])
def test_event_times_agree_with_survfit(compared: tuple[dict, dict, dict], kind: str) -> None:
    table, r, _ = compared
    times, events = table[f"{kind}_raw"], [e == 1.0 for e in table[f"{kind}_event"]]
    ref = r[f"{kind} raw"]
    curve = kaplan_meier(times, events)
    assert len(curve) == len(ref["time"]) > 10
    for i, (t, s, se, at_risk) in enumerate(curve):
        assert t == pytest.approx(ref["time"][i], abs=1e-9)
        assert at_risk == ref["n_risk"][i]
        assert s == pytest.approx(ref["surv"][i], abs=1e-9)
        if s > 0:  # R's std.err is Greenwood's se of log S: se(S) = S * std.err
            assert se == pytest.approx(s * ref["std_err"][i], abs=1e-9)
        e = km_at(times, events, t)
        if ref["lower"][i] is not None:
            assert e.ci_low == pytest.approx(ref["lower"][i], abs=1e-9)
            assert e.ci_high == pytest.approx(ref["upper"][i], abs=1e-9)


@pytest.mark.parametrize("kind", ["efs", "os"])
def test_cohort_survival_endpoints_agree_with_survfit(
    compared: tuple[dict, dict, dict], kind: str
) -> None:
    _, r, arm = compared
    ref = r[f"{kind} binned"]
    twelve = arm["metrics"][f"{kind}_12m"]
    got = [twelve["value"], twelve["ci_low"], twelve["ci_high"]]
    assert got == pytest.approx(ref["s12"], abs=5e-7)
    median = arm["metrics"][f"{kind}_median_months"]
    got_days = [None if median[k] is None else median[k] * MONTH_DAYS for k in ("value", "ci_low")]
    got_days.append(None if median["ci_high"] is None else median["ci_high"] * MONTH_DAYS)
    first = ref["median_first"]
    for mine, theirs in zip(got_days, first, strict=True):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            assert mine == pytest.approx(theirs, abs=5e-7 * MONTH_DAYS)
    # R's own quantile() agrees wherever no curve sits exactly at 0.5 (its midpoint rule)
    for mine, theirs in zip(first, ref["median_r"], strict=True):
        if mine is not None and theirs is not None and theirs != mine:
            curves = [ref["surv"], ref["lower"], ref["upper"]]
            assert any(abs(v - 0.5) < 1e-12 for c in curves for v in c if v is not None)
