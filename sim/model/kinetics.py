"""CAR-T cell kinetics for one or several doses (copies/ug gDNA, time in days).

Default model: Stein et al. 2019 (tisagenlecleucel): exponential expansion at rate
``rho`` up to a peak, then a biexponential fall ``(1-FB) e^-alpha + FB e^-beta``.
Stein has no dose input (R0 = Cmax/foldx). To extend it to fractions and repeat doses
(a modelling assumption, domain.md 5.5) the expansion here starts from a seed
proportional to each dose and grows until it reaches a patient's *capacity*:

* capacity K = K_typ x e^eta x (LD ? 1 : no_ld_factor) x (1 + blasts %)^e, so
  lymphodepletion (about x11.6 in peak, Roddie 2025) and burden raise the peak;
* the peak actually reached is K x S / (S + S50), S the cells/kg given before the
  peak: a weak dose effect (Liu 2021), so fractions held on early CRS lower the peak;
* doses given after the first peak expand little (antigen-limited, Roddie: minimal
  expansion after dose 1): each adds a small curve with capacity x post_peak_factor.

With the ELIANA median dose (3.1e6/kg) and typical values this gives Stein's Tmax of
about 9.3 days and Cmax of about 24,000 copies/ug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class KineticTraits:
    capacity: float  # copies/ug, with LD and burden effects applied
    rho: float  # per day
    seed_per_1e6: float  # copies/ug per 1e6 cells/kg
    s50: float  # 1e6 cells/kg
    alpha: float
    fb: float
    beta: float
    post_peak_factor: float


@dataclass(frozen=True, slots=True)
class Curve:
    """One expansion-contraction curve."""

    start: float  # day of the first seeding dose
    peak_day: float
    peak: float
    seeds: tuple[tuple[float, float], ...]  # (day, copies) seeding the expansion
    alpha: float
    fb: float
    beta: float
    rho: float

    def at(self, t: float) -> float:
        if t < self.start:
            return 0.0
        if t <= self.peak_day:
            return sum(c * math.exp(self.rho * (t - d)) for d, c in self.seeds if d <= t)
        dt = t - self.peak_day
        return self.peak * (
            (1 - self.fb) * math.exp(-self.alpha * dt) + self.fb * math.exp(-self.beta * dt)
        )

    def integral(self, a: float, b: float) -> float:
        """Exact integral of the curve over [a, b] (copies/ug x days)."""
        total = 0.0
        lo, hi = max(a, self.start), min(b, self.peak_day)
        if hi > lo:
            for d, c in self.seeds:
                s, e = max(lo, d), hi
                if e > s:
                    total += (
                        c / self.rho * (math.exp(self.rho * (e - d)) - math.exp(self.rho * (s - d)))
                    )
        lo, hi = max(a, self.peak_day), b
        if hi > lo:
            x, y = lo - self.peak_day, hi - self.peak_day
            total += (
                self.peak
                * (1 - self.fb)
                / self.alpha
                * (math.exp(-self.alpha * x) - math.exp(-self.alpha * y))
            )
            total += (
                self.peak
                * self.fb
                / self.beta
                * (math.exp(-self.beta * x) - math.exp(-self.beta * y))
            )
        return total

    def time_to_reach(self, level: float) -> float | None:
        """First day the rising curve reaches ``level`` (None if it never does)."""
        if level > self.peak:
            return None
        seeds = sorted(self.seeds)
        for i, (d, _) in enumerate(seeds):
            end = seeds[i + 1][0] if i + 1 < len(seeds) else self.peak_day
            value = sum(c * math.exp(self.rho * (d - d0)) for d0, c in seeds[: i + 1])
            if value >= level:
                return d
            t = d + math.log(level / value) / self.rho
            if t <= min(end, self.peak_day):
                return t
        return self.peak_day


@dataclass
class Kinetics:
    traits: KineticTraits
    doses: list[tuple[float, float]] = field(default_factory=list)  # (day, 1e6 cells/kg)

    def add_dose(self, day: float, cells_per_kg: float) -> None:
        self.doses.append((day, cells_per_kg / 1e6))

    def curves(self) -> list[Curve]:
        """The main expansion (from doses before its peak) and later small ones."""
        k = self.traits
        if not self.doses:
            return []
        doses = sorted(self.doses)
        seeds: list[tuple[float, float]] = []
        given = 0.0
        main: Curve | None = None
        for i, (day, amount) in enumerate(doses):
            seeds.append((day, k.seed_per_1e6 * amount))
            given += amount
            cap = k.capacity * given / (given + k.s50)
            level = sum(c * math.exp(k.rho * (day - d)) for d, c in seeds)
            next_day = doses[i + 1][0] if i + 1 < len(doses) else math.inf
            peak_day = day + max(0.0, math.log(cap / level) / k.rho) if level < cap else day
            if peak_day < next_day:
                main = Curve(doses[0][0], peak_day, cap, tuple(seeds), k.alpha, k.fb, k.beta, k.rho)
                rest = doses[i + 1 :]
                break
        assert main is not None
        out = [main]
        for day, amount in rest:
            cap = k.capacity * k.post_peak_factor * amount / (amount + k.s50)
            seed = k.seed_per_1e6 * amount
            peak_day = day + max(0.0, math.log(cap / seed) / k.rho) if seed < cap else day
            out.append(
                Curve(day, peak_day, max(cap, seed), ((day, seed),), k.alpha, k.fb, k.beta, k.rho)
            )
        return out

    def at(self, t: float) -> float:
        return sum(c.at(t) for c in self.curves())

    def summary(self, lloq: float, curves: list[Curve] | None = None) -> dict[str, float]:
        """Peak, day of peak, AUC over days 0-28 from the first dose, persistence;
        ``curves`` passes :meth:`curves` when the caller already has them."""
        curves = self.curves() if curves is None else curves
        if not curves:
            return {}
        main = curves[0]
        t0 = main.start
        auc = sum(c.integral(t0, t0 + 28.0) for c in curves)
        # persistence: when the slow phase of the main curve falls below the LLOQ
        persistence = main.peak_day - t0
        slow = main.peak * main.fb
        if main.peak > lloq:
            fast_end = (
                math.log(main.peak * (1 - main.fb) / lloq) / main.alpha
                if main.peak * (1 - main.fb) > lloq
                else 0.0
            )
            slow_end = math.log(slow / lloq) / main.beta if slow > lloq else 0.0
            persistence += max(fast_end, slow_end)
        seeded = sum(c for _, c in main.seeds)
        return {
            "peak_copies": main.peak,
            "peak_day": main.peak_day - t0,
            "auc_0_28": auc,
            "persistence_days": persistence,
            "fold_expansion": main.peak / seeded,
        }
