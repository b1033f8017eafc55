"""Columns of the clinic's tidy tables (``cartsim clinic --csv``)."""

from __future__ import annotations

from sim.exports.tables import Column

PATIENT_COLUMNS = (
    Column("replication", "int"),
    Column("protocol", "str"),
    Column("patient", "int", "index of the referral in the replication"),
    Column("population", "str"),
    Column("referred_day", "float"),
    Column("outcome", "str", "treated, waiting, dropped_out or died_waiting"),
    Column("reason", "str"),
    Column("bridging", "bool"),
    Column("apheresis_day", "float"),
    Column("manufacturing_attempts", "int"),
    Column("ld_start_day", "float", "the midnight the protocol course started"),
    Column("first_infusion_day", "float"),
    Column("vein_to_vein_days", "float", "apheresis to first infusion"),
    Column("course_ended", "bool", "the course ended within the simulated period"),
    Column("bed_days", "float", "ward days within the simulated period"),
    Column("icu_days", "float"),
    Column("icu_admissions", "int"),
    Column("transfers_out", "int"),
    Column("fractions_held", "int", "doses held by the site (no bed, in ICU, away)"),
)
DAY_COLUMNS = (
    Column("replication", "int"),
    Column("protocol", "str"),
    Column("day", "int"),
    Column("beds_mean", "float", "ward beds in use, mean over the day"),
    Column("beds_peak", "int"),
    Column("icu_mean", "float"),
    Column("icu_peak", "int"),
)
