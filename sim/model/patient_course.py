"""From latent traits and the doses given so far to timelines of the patient's state.

``PatientModel.plan()`` returns, for each channel (CRS, ICANS, IEC-HS, GVHD,
cytopenia, infection, disease), a piecewise-constant timeline of state values, and the
outcome events (expansion peak, death). It is a pure function of the latent traits and
the realised doses, so the engine can re-plan after every dose (a fraction held
changes what happens next) and a replay of the same doses gives the same patient.

Links (each a parameter in parameters.yaml, with its source there):
* CRS: peak grade from expansion peak and burden (not dose: Mueller 2018, Awasthi
  2020); onset when expansion passes a level; duration shortened by tocilizumab and
  steroids from given grades.
* ICANS: correlated with CRS, later; IEC-HS: rare, as CRS resolves, likelier after
  severe CRS; GVHD: allogeneic products only, risk rising with the cumulative donor
  T-cell dose (Bar 2013); cytopenia after LD and infection during it.
* Response by day 28 from expansion and burden; relapse and death hazards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sim.model.kinetics import Curve, Kinetics, KineticTraits
from sim.model.latent import Latent
from sim.model.parameters import ModelParameters
from sim.spec.scenario import Patient

H_PER_DAY = 24.0
DAYS_PER_MONTH = 30.4375
Timeline = list[tuple[float, dict[str, Any] | None]]
ICE_BY_GRADE = {1: 8, 2: 5, 3: 1, 4: 0}


# Bound on the exponent of a hazard multiplier: e^50 is ~5e21, far past any modelled
# effect, and keeps a near-zero expansion (e.g. a 1e-300 share) from overflowing a float.
MAX_LOG_MULTIPLIER = 50.0


def _expit(x: float) -> float:
    """The logistic function, without overflow for large negative ``x`` (where it equals
    e^x to double precision; the usual form is kept elsewhere so results do not move)."""
    if x < -700.0:
        return math.exp(x)
    return 1.0 / (1.0 + math.exp(-x))


def _multiplier(log_value: float) -> float:
    return math.exp(max(-MAX_LOG_MULTIPLIER, min(MAX_LOG_MULTIPLIER, log_value)))


def _ordinal(score: float, cutpoints: list[float]) -> int:
    return sum(1 for c in cutpoints if score > c)


def _episode(onset_h: float, grade: int, duration_h: float, rise_h: float, values: Any) -> Timeline:
    """Grades rising one step per ``rise_h`` to ``grade``, plateau, then falling."""
    out: Timeline = []
    steps = list(range(1, grade + 1))
    ramp = rise_h * (grade - 1)
    plateau = max(rise_h, duration_h - 2 * ramp)
    t = onset_h
    for g in steps:
        out.append((t, values(g)))
        t += rise_h if g < grade else plateau
    for g in range(grade - 1, 0, -1):
        out.append((t, values(g)))
        t += rise_h
    out.append((t, None))
    return out


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
        allogeneic: bool,
        car_positive_pct: float | None,
    ) -> None:
        self.p = params
        self.patient = patient
        self.latent = latent
        self.allogeneic = allogeneic
        self.car_positive_pct = car_positive_pct or params.gvhd.default_car_positive_pct
        self.ld_given = False
        self.doses: list[tuple[float, float]] = []  # (time_h, cells/kg)

    def add_dose(self, time_h: float, cells_per_kg: float) -> None:
        self.doses.append((time_h, cells_per_kg))

    def burden(self) -> float:
        return math.log1p(self.patient.marrow_blasts_pct)

    def kinetic_traits(self) -> KineticTraits:
        k, z = self.p.kinetics, self.latent
        capacity = k.capacity_copies * math.exp(k.omega_capacity * z.eta_capacity)
        capacity *= (1.0 + self.patient.marrow_blasts_pct) ** k.burden_capacity_exponent
        # normalise the burden effect at 30 % blasts, the typical R/R ALL patient
        capacity /= 31.0**k.burden_capacity_exponent
        if not self.ld_given:
            capacity *= k.no_ld_capacity_factor
        beta = k.beta_per_day * math.exp(k.omega_beta * z.eta_beta)
        if self.allogeneic:
            beta *= k.allogeneic_beta_factor
            capacity *= k.allogeneic_capacity_factor
        return KineticTraits(
            capacity=capacity,
            rho=k.rho_per_day * math.exp(k.omega_rho * z.eta_rho),
            seed_per_1e6=k.seed_copies_per_1e6_per_kg,
            s50=k.saturation_1e6_per_kg,
            alpha=k.alpha_per_day * math.exp(k.omega_alpha * z.eta_alpha),
            fb=min(0.5, k.fb * math.exp(k.omega_fb * z.eta_fb)),
            beta=beta,
            post_peak_factor=k.post_peak_capacity_factor,
        )

    def plan(self) -> Plan:
        plan = Plan()
        if not self.doses:
            return plan
        kin = Kinetics(self.kinetic_traits())
        for t, cpk in self.doses:
            kin.add_dose(t / H_PER_DAY, cpk)
        curves = kin.curves()
        main = curves[0]
        summary = kin.summary(self.p.kinetics.lloq_copies, curves)
        plan.kinetics = summary
        t0 = self.doses[0][0]
        peak_h = main.peak_day * H_PER_DAY
        plan.outcomes.append((peak_h, "expansion_peak", {"copies": round(main.peak, 1)}))
        crs_end = self._crs(plan, main)
        self._icans(plan, main)
        self._iec_hs(plan, main, crs_end, peak_h)
        self._gvhd(plan)
        self._cytopenia_infection(plan, t0)
        self._disease(plan, main, t0, peak_h)
        return plan

    # toxicities --------------------------------------------------------------------
    def _crs_grade(self, main: Curve) -> int:
        c, z = self.p.crs, self.latent
        score = (
            c.intercept
            + c.slope_peak * math.log(main.peak / 24000.0)
            + c.slope_burden * self.burden()
            + z.z_crs
        )
        return _ordinal(score, c.cutpoints)

    def _crs(self, plan: Plan, main: Curve) -> float | None:
        c, z = self.p.crs, self.latent
        grade = self._crs_grade(main)
        if grade == 0:
            return None
        level = c.onset_copies * math.exp(c.omega_onset * z.z_onset)
        onset_day = main.time_to_reach(level)
        onset_h = (onset_day if onset_day is not None else main.peak_day) * H_PER_DAY
        duration = c.duration_median_days * math.exp(c.omega_duration * z.z_crs_duration)
        if grade >= c.tocilizumab_from_grade:
            duration *= c.tocilizumab_duration_factor
        if grade >= c.steroids_from_grade:
            duration *= c.steroids_duration_factor
        timeline = _episode(
            onset_h,
            grade,
            duration * H_PER_DAY,
            c.rise_hours_per_grade,
            lambda g: {"crs_grade": g, "temperature_c": round(38.4 + 0.3 * g, 1)},
        )
        plan.channels["crs"] = timeline
        if grade == 4 and z.u_crs_death < c.grade4_death_probability:
            top = next(t for t, v in timeline if v and v["crs_grade"] == 4)
            plan.outcomes.append((top + 48.0, "death", {"cause": "CRS (grade 5)"}))
        return timeline[-1][0]

    def _icans(self, plan: Plan, main: Curve) -> None:
        i, z = self.p.icans, self.latent
        rho = i.correlation_with_crs
        score = (
            i.intercept
            + i.slope_peak * math.log(main.peak / 24000.0)
            + rho * z.z_crs
            + math.sqrt(1 - rho * rho) * z.z_icans
        )
        grade = _ordinal(score, i.cutpoints)
        if grade == 0:
            return
        crs = plan.channels.get("crs")
        onset_h = (crs[0][0] if crs else main.peak_day * H_PER_DAY) + i.lag_days * H_PER_DAY
        duration = i.duration_median_days * math.exp(0.5 * z.z_icans_duration) * H_PER_DAY
        plan.channels["icans"] = _episode(
            onset_h,
            grade,
            duration,
            12.0,
            lambda g: {"icans_grade": g, "ice_score": ICE_BY_GRADE[g]},
        )

    def _iec_hs(self, plan: Plan, main: Curve, crs_end: float | None, peak_h: float) -> None:
        h, z = self.p.iec_hs, self.latent
        crs = plan.channels.get("crs")
        crs_grade = max((v["crs_grade"] for _, v in crs if v), default=0) if crs else 0
        p = _expit(h.intercept + h.slope_crs_grade * crs_grade)
        if z.u_iec >= p:
            return
        grade = 1 + int(3 * z.u_iec / p)  # grades 1-3 spread over the event's share
        onset = (crs_end if crs_end is not None else peak_h) + h.lag_days * H_PER_DAY
        plan.channels["iec_hs"] = [
            (onset, {"iec_hs_grade": min(grade, 3)}),
            (onset + h.duration_days * H_PER_DAY, None),
        ]

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
