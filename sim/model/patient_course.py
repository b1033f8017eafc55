"""From latent traits and the doses given so far to timelines of the patient's state.

``PatientModel.plan()`` returns, for each channel (CRS, ICANS, treatment, IEC-HS, GVHD,
cytopenia, infection, disease), a piecewise-constant timeline of state values, and the
outcome events (expansion peak, death). It is a pure function of the latent traits and
the realised doses, so the engine can re-plan after every dose (a fraction held
changes what happens next) and a replay of the same doses gives the same patient.

Links (each a parameter in parameters.yaml, with its source there):
* Kinetics: Stein 2019 extended to several doses (sim/model/kinetics.py), scaled by the
  product class (``products``).
* CRS (sim/model/crs.py): severity from the expansion and burden (not dose); onset a
  hazard in time from the cells on board, the severity and the expansion; signs graded
  by the ASTCT consensus; tocilizumab and steroids by the protocol's management policy.
* ICANS (sim/model/icans.py): from expansion, burden and the CRS course, after a lag.
* IEC-HS: rare, as CRS resolves, likelier after severe CRS; GVHD: allogeneic products
  only, risk rising with the cumulative donor T-cell dose (Bar 2013); cytopenia after LD
  and infection during it.
* Response by day 28 from expansion and burden; relapse and death hazards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sim.model.crs import CrsCourse, crs_course, onset_h, ordinal
from sim.model.icans import IcansCourse, icans_course, lag_h
from sim.model.kinetics import Curve, Kinetics, KineticTraits
from sim.model.latent import Latent
from sim.model.parameters import ModelParameters, ProductEffect
from sim.model.timeline import DAYS_PER_MONTH, H_PER_DAY, Timeline
from sim.model.treatment import Course, treatment_timeline
from sim.spec.protocol import Management, Product
from sim.spec.scenario import Patient

# Bound on the exponent of a hazard multiplier: e^50 is ~5e21, far past any modelled
# effect, and keeps a near-zero expansion (e.g. a 1e-300 share) from overflowing a float.
MAX_LOG_MULTIPLIER = 50.0
_T = TypeVar("_T")
CAPD_BELOW_AGE_Y = 12.0
"""ASTCT: ICE from age 12; younger children are assessed with CAPD."""


def _expit(x: float) -> float:
    """The logistic function, without overflow for large negative ``x`` (where it equals
    e^x to double precision; the usual form is kept elsewhere so results do not move)."""
    if x < -700.0:
        return math.exp(x)
    return 1.0 / (1.0 + math.exp(-x))


def _multiplier(log_value: float) -> float:
    return math.exp(max(-MAX_LOG_MULTIPLIER, min(MAX_LOG_MULTIPLIER, log_value)))


def product_effect(params: ModelParameters, product: Product) -> ProductEffect:
    """The model's effects for ``product``: its class relative to autologous 4-1BB."""
    effect = ProductEffect()
    pr = params.products
    if product.costimulation == "CD28":
        effect = effect.combine(pr.cd28)
    if product.binder == "fast_off_rate":
        effect = effect.combine(pr.fast_off_rate)
    if product.kind == "allogeneic_donor":
        effect = effect.combine(pr.allogeneic_donor)
    return effect


@dataclass
class Plan:
    channels: dict[str, Timeline] = field(default_factory=dict)
    outcomes: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    kinetics: dict[str, float] = field(default_factory=dict)


class PatientModel:
    def __init__(
        self,
        params: ModelParameters,
        patient: Patient,
        latent: Latent,
        *,
        product: Product,
        management: Management | None = None,
    ) -> None:
        self.p = params
        self.patient = patient
        self.latent = latent
        self.allogeneic = product.kind == "allogeneic_donor"
        self.effect = product_effect(params, product)
        self.management = management or Management()
        self.car_positive_pct = product.car_positive_pct or params.gvhd.default_car_positive_pct
        self.ld_given = False
        self.doses: list[tuple[float, float]] = []  # (time_h, cells/kg)
        # the last result of each costly step and what it was made from: a re-plan after a
        # dose often changes nothing there (same grade and onset), so it is reused as is
        self._last: dict[str, tuple[tuple[Any, ...], Any]] = {}

    def _reuse(self, step: str, key: tuple[Any, ...], make: Callable[[], _T]) -> _T:
        """``make()``, or its last result if ``key`` (what it depends on) is unchanged."""
        last = self._last.get(step)
        if last is not None and last[0] == key:
            return cast(_T, last[1])
        value = make()
        self._last[step] = (key, value)
        return value

    def add_dose(self, time_h: float, cells_per_kg: float) -> None:
        self.doses.append((time_h, cells_per_kg))

    def burden(self) -> float:
        return math.log1p(self.patient.marrow_blasts_pct)

    def kinetic_traits(self) -> KineticTraits:
        return self._reuse("traits", (self.ld_given,), self._kinetic_traits)

    def _kinetic_traits(self) -> KineticTraits:
        k, z, e = self.p.kinetics, self.latent, self.effect
        capacity = k.capacity_copies * math.exp(k.omega_capacity * z.eta_capacity)
        capacity *= (1.0 + self.patient.marrow_blasts_pct) ** k.burden_capacity_exponent
        # normalise the burden effect at 30 % blasts, the typical R/R ALL patient
        capacity /= 31.0**k.burden_capacity_exponent
        if not self.ld_given:
            capacity *= k.no_ld_capacity_factor
        return KineticTraits(
            capacity=capacity * e.capacity_factor,
            rho=k.rho_per_day * math.exp(k.omega_rho * z.eta_rho) * e.rho_factor,
            seed_per_1e6=k.seed_copies_per_1e6_per_kg,
            s50=k.saturation_1e6_per_kg,
            alpha=k.alpha_per_day * math.exp(k.omega_alpha * z.eta_alpha) * e.alpha_factor,
            fb=min(0.5, k.fb * math.exp(k.omega_fb * z.eta_fb)),
            beta=k.beta_per_day * math.exp(k.omega_beta * z.eta_beta) * e.beta_factor,
            post_peak_factor=k.post_peak_capacity_factor,
        )

    def plan(self) -> Plan:
        plan = Plan()
        if not self.doses:
            return plan
        traits = self.kinetic_traits()
        kin = Kinetics(traits)
        for t, cpk in self.doses:
            kin.add_dose(t / H_PER_DAY, cpk)
        curves = kin.curves()
        main = curves[0]
        plan.kinetics = kin.summary(self.p.kinetics.lloq_copies, curves)
        t0 = self.doses[0][0]
        peak_h = main.peak_day * H_PER_DAY
        plan.outcomes.append((peak_h, "expansion_peak", {"copies": round(main.peak, 1)}))
        crs = self._crs(plan, main)
        icans = self._icans(plan, main, crs, peak_h)
        crs_end = crs.steps.end_h if crs is not None else None
        anakinra = self._iec_hs(plan, crs, crs_end, peak_h)
        self._treatment(plan, crs, icans, anakinra)
        self._gvhd(plan)
        self._cytopenia_infection(plan, t0)
        self._disease(plan, main, t0, peak_h)
        return plan

    # toxicities --------------------------------------------------------------------
    def _drive(self, peak: float) -> float:
        """ln(peak/24000) of the expansion that drives CRS and ICANS: lymphodepletion's gain
        in capacity counts with weight ``crs.ld_expansion_weight`` (Roddie 2025)."""
        log_drive = math.log(peak / 24000.0)
        if not self.ld_given:
            w = self.p.crs.ld_expansion_weight
            log_drive -= (1.0 - w) * math.log(self.p.kinetics.no_ld_capacity_factor)
        return log_drive

    def _crs_propensity(self) -> float:
        """The part of the CRS severity score that does not come from the expansion."""
        c = self.p.crs
        return c.slope_burden * self.burden() + self.effect.crs_shift + self.latent.z_crs

    def _crs(self, plan: Plan, main: Curve) -> CrsCourse | None:
        c, z = self.p.crs, self.latent
        propensity = self._crs_propensity()
        score = c.intercept + c.slope_peak * self._drive(main.peak) + propensity
        grade = ordinal(score, c.cutpoints)
        if grade == 0:
            return None
        start = onset_h(c, self.doses, propensity, main, z.z_onset, self.effect.onset_rate_factor)
        if start is None:
            return None
        course = self._reuse(
            "crs",
            (grade, start),
            lambda: crs_course(
                c,
                self.management,
                grade,
                start,
                z_duration=z.z_crs_duration,
                z_fever=z.z_fever,
                u_sign=z.u_crs_sign,
            ),
        )
        plan.channels["crs"] = course.timeline
        if course.grade4_h is not None and z.u_crs_death < c.grade4_death_probability:
            plan.outcomes.append((course.grade4_h + 48.0, "death", {"cause": "CRS (grade 5)"}))
        return course

    def _icans(
        self, plan: Plan, main: Curve, crs: CrsCourse | None, peak_h: float
    ) -> IcansCourse | None:
        i, z = self.p.icans, self.latent
        rho = i.correlation_with_crs
        score = (
            i.intercept
            + i.slope_peak * self._drive(main.peak)
            + i.slope_burden * self.burden()
            + i.slope_crs_grade * (crs.grade if crs is not None else 0)
            + self.effect.icans_shift
            + rho * z.z_crs
            + math.sqrt(1 - rho * rho) * z.z_icans
        )
        grade = ordinal(score, i.cutpoints)
        if grade == 0:
            return None
        base = crs.steps.times[0] if crs is not None else peak_h
        start = base + lag_h(i, z.z_icans_lag)
        course = self._reuse(
            "icans",
            (grade, start),
            lambda: icans_course(
                i,
                grade,
                start,
                child=self.patient.age_y < CAPD_BELOW_AGE_Y,
                z_duration=z.z_icans_duration,
                u_sign=z.u_icans_sign,
            ),
        )
        plan.channels["icans"] = course.timeline
        return course

    def _treatment(
        self,
        plan: Plan,
        crs: CrsCourse | None,
        icans: IcansCourse | None,
        anakinra: list[Course],
    ) -> None:
        key = (crs, icans, tuple(anakinra))
        timeline = self._reuse("treatment", key, lambda: self._treatment_timeline(*key))
        if timeline:
            plan.channels["treatment"] = timeline

    def _treatment_timeline(
        self, crs: CrsCourse | None, icans: IcansCourse | None, anakinra: tuple[Course, ...]
    ) -> Timeline:
        m = self.management
        toci: list[tuple[float, str]] = []
        steroids: list[Course] = []
        end = max(x.steps.end_h for x in (crs, icans) if x is not None) if crs or icans else 0.0
        if crs is not None:
            for t in crs.tocilizumab_h:
                toci.append((t, f"CRS grade {crs.steps.grade_at(t)}"))
            if crs.steroids_h is not None:
                why = f"CRS grade {crs.steps.grade_at(crs.steroids_h)}"
                steroids.append(Course(crs.steroids_h, end, why))
        if icans is not None:
            start = icans.steps.first_at_least(m.steroids_from_icans_grade)
            if start is not None:
                why = f"ICANS grade {icans.steps.grade_at(start)}"
                steroids.append(Course(start, end, why))
        return treatment_timeline(self.patient.weight_kg, toci, steroids, anakinra)

    def _iec_hs(
        self, plan: Plan, crs: CrsCourse | None, crs_end: float | None, peak_h: float
    ) -> list[Course]:
        """IEC-HS (and the anakinra course the policy gives for it)."""
        h, z = self.p.iec_hs, self.latent
        crs_grade = crs.grade if crs is not None else 0
        p = _expit(h.intercept + h.slope_crs_grade * crs_grade)
        if z.u_iec >= p:
            return []
        grade = min(3, 1 + int(3 * z.u_iec / p))  # grades 1-3 spread over the event's share
        onset = (crs_end if crs_end is not None else peak_h) + h.lag_days * H_PER_DAY
        end = onset + h.duration_days * H_PER_DAY
        plan.channels["iec_hs"] = [
            (onset, {"iec_hs_grade": grade, "why": f"IEC-HS grade {grade}"}),
            (end, None),
        ]
        if not self.management.anakinra_for_iec_hs:
            return []
        return [Course(onset, end, f"IEC-HS grade {grade}")]

    def _gvhd(self, plan: Plan) -> None:
        if not self.allogeneic:
            return
        g, z = self.p.gvhd, self.latent
        cumulative = 0.0
        for t, cpk in self.doses:
            cumulative += cpk / (self.car_positive_pct / 100.0) / 1e7
            p12 = g.pmax * cumulative / (cumulative + g.d50_1e7_per_kg)
            if z.u_gvhd < p12:
                onset = t + g.onset_median_days * math.exp(g.omega_onset * z.z_gvhd_onset) * 24
                cum = 0.0
                grade = 4
                for k, prob in enumerate(g.grade_probabilities, start=1):
                    cum += prob
                    if z.u_gvhd_grade < cum:
                        grade = k
                        break
                plan.channels["gvhd"] = [
                    (onset, {"gvhd_grade": grade}),
                    (onset + g.duration_days * H_PER_DAY, None),
                ]
                return

    def _cytopenia_infection(self, plan: Plan, t0: float) -> None:
        cy, inf, z = self.p.cytopenia, self.p.infection, self.latent
        p = cy.probability_with_ld if self.ld_given else cy.probability_without_ld
        if z.u_cytopenia >= p:
            return
        duration = cy.duration_median_days * math.exp(0.4 * z.z_cytopenia_duration) * 24
        plan.channels["cytopenia"] = [(t0, {"severe_cytopenia": True}), (t0 + duration, None)]
        if z.u_infection < inf.probability_when_cytopenic:
            start = t0 + z.u_infection_time * duration
            plan.channels["infection"] = [
                (start, {"active_infection": True}),
                (start + inf.duration_days * H_PER_DAY, None),
            ]

    # disease -------------------------------------------------------------------------
    def _disease(self, plan: Plan, main: Curve, t0: float, peak_h: float) -> None:
        r, s, z = self.p.response, self.p.survival, self.latent
        blasts = self.patient.marrow_blasts_pct
        log_peak = math.log(main.peak / 24000.0)
        p_cr = _expit(r.intercept + r.slope_peak * log_peak - r.slope_burden * self.burden())
        respond_h = min(peak_h + r.days_after_peak * H_PER_DAY, t0 + 27 * H_PER_DAY)
        paediatric = self.patient.age_y < 18
        death_rate = s.death_after_progression_per_month / DAYS_PER_MONTH / H_PER_DAY
        if paediatric:
            death_rate *= s.death_paediatric_factor
        if z.u_response < p_cr:
            mrd_negative = z.u_mrd < r.mrd_negative_given_cr
            timeline: Timeline = [
                (
                    respond_h,
                    {
                        "in_remission": True,
                        "mrd_positive": not mrd_negative,
                        "marrow_blasts_pct": 0.0,
                    },
                )
            ]
            rate = (
                s.relapse_per_month
                / DAYS_PER_MONTH
                / H_PER_DAY
                * _multiplier(
                    s.relapse_slope_burden * self.burden() - s.relapse_slope_peak * log_peak
                )
            )
            if paediatric:
                rate *= s.relapse_paediatric_factor
            progression = respond_h + z.e_relapse / rate
            timeline.append(
                (
                    progression,
                    {
                        "relapse": True,
                        "in_remission": False,
                        "mrd_positive": True,
                        "marrow_blasts_pct": blasts,
                    },
                )
            )
        else:
            progression = t0 + 28 * H_PER_DAY  # refractory: counted at the day-28 assessment
            timeline = [(respond_h, {"mrd_positive": True})]
            death_rate *= s.death_refractory_factor
        plan.channels["disease"] = timeline
        death = progression + z.e_death / death_rate
        background = s.background_death_per_month / DAYS_PER_MONTH / H_PER_DAY
        if background > 0:
            death = min(death, t0 + z.e_background / background)
        plan.outcomes.append((death, "death", {"cause": "leukaemia or other causes"}))
