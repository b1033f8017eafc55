"""``cartsim clinic``, ``check`` and ``schema --kind clinic`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sim.cli import app

runner = CliRunner()
BASE = ["clinic", "academic-centre", "--protocol", "cart19-be-02"]
BASE += ["--protocol", "tisagenlecleucel-label", "--days", "60", "--replications", "2"]


def test_workers_do_not_change_the_json(tmp_path: Path) -> None:
    one = runner.invoke(app, [*BASE, "--json", "--no-timing", "-q"])
    two = runner.invoke(app, [*BASE, "--json", "--no-timing", "-q", "--workers", "2"])
    assert one.exit_code == 0, one.output
    assert one.stdout == two.stdout
    data = json.loads(one.stdout)
    arm = data["arms"][0]["metrics"]
    total = sum(arm[k]["value"] for k in ("treated", "waiting", "dropped_out", "died_waiting"))
    assert total == arm["referred"]["value"]


def test_csv_tables_and_plot_come_with_provenance(tmp_path: Path) -> None:
    out = tmp_path / "clinic.csv"
    fig = tmp_path / "clinic.png"
    result = runner.invoke(app, [*BASE, "-q", "--csv", str(out), "--plot", str(fig)])
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["replication", "protocol", "patient"]
    days = (tmp_path / "clinic.days.csv").read_text().splitlines()
    assert len(days) == 1 + 2 * 2 * 60  # header, then replications x arms x days
    for path in (out, tmp_path / "clinic.days.csv"):
        side = json.loads(Path(f"{path}.provenance.json").read_text())
        assert side["clinic"]["id"] == "academic-centre"
    assert fig.read_bytes()[:4] == b"\x89PNG"


BAD = """\
id: bad
title: bad clinic
arrivals:
  per_month: -3
  population_mix: {adult-rr-ball: 1.0}
apheresis: {slots: 1}
manufacturing:
  in-house: {site: in_house, slots: 2, duration: {distribution: fixed, days: 10}, failure_rate: 0}
waiting: {death_per_month: 0.1, progression_per_month: 0.1}
ld_chairs: 1
beds: 2
icu_beds: 1
admission: {admit_when: fevre}
icu: {admit_when: crs_grade >= 3}
protocols:
  cart19-be-02:
    manufacturing: in-hose
    monitoring: {setting: inpatient, days_after_lastfraction: 7}
"""


def test_bad_clinic_files_get_file_line_field_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    for args in (["check", str(bad)], ["clinic", str(bad), "--protocol", "cart19-be-02"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert (
            f"error: {bad}:4: arrivals.per_month: Input should be greater than 0, got -3" in lines
        )
        assert any(
            line.startswith(f"error: {bad}:13: admission.admit_when: unknown name 'fevre'")
            for line in lines
        )
        assert any(
            f"{bad}:18: protocols.cart19-be-02.monitoring.days_after_lastfraction: unknown field"
            in line
            for line in lines
        )
    fixed = BAD.replace("per_month: -3", "per_month: 3").replace("fevre", "fever")
    bad.write_text(fixed.replace("days_after_lastfraction", "days_after_last_fraction"))
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert (
        f"error: {bad}:17: protocols.cart19-be-02.manufacturing: "
        "'in-hose' is not under manufacturing (defined: in-house)" in result.stderr.splitlines()
    )


def test_the_builtin_clinic_checks_and_has_a_schema() -> None:
    assert runner.invoke(app, ["check", "clinics/academic-centre.yaml"]).exit_code == 0
    schema = json.loads(runner.invoke(app, ["schema", "--kind", "clinic"]).stdout)
    assert "icu_beds" in schema["properties"]


def test_a_protocol_the_clinic_does_not_run_is_an_option_error() -> None:
    result = runner.invoke(app, ["clinic", "academic-centre", "--protocol", "msk-19-28z"])
    assert result.exit_code == 2
    assert (
        "error: --protocol: the clinic clinics/academic-centre.yaml has no rules" in result.stderr
    )


def test_an_unknown_population_is_named_at_its_line(tmp_path: Path) -> None:
    text = Path("clinics/academic-centre.yaml").read_text()
    bad = tmp_path / "clinic.yaml"
    bad.write_text(text.replace("paediatric-ya-ball: 0.2", "martians: 0.2"))
    line = 1 + text.splitlines().index("    paediatric-ya-ball: 0.2")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {bad}:{line}: arrivals.population_mix.martians: unknown population 'martians'"
    )


def test_the_html_report_has_the_clinic_section(tmp_path: Path) -> None:
    page = tmp_path / "clinic.html"
    result = runner.invoke(app, [*BASE, "-q", "--report", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert 'id="clinic-metrics"' in html and "patients treated per month" in html
    assert 'id="clinic-difference-tisagenlecleucel-label"' in html
    assert "<svg" in html and "Not clinical advice" in html
    bad = runner.invoke(app, [*BASE, "-q", "--report", str(tmp_path / "clinic.txt")])
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --report: ")
    assert not (tmp_path / "clinic.txt").exists()


def test_a_variant_field_is_named_without_the_variant_tag(tmp_path: Path) -> None:
    text = Path("clinics/academic-centre.yaml").read_text()
    old = "duration: {distribution: lognormal, median_days: 10, sd_log: 0.2}"
    bad = tmp_path / "clinic.yaml"
    bad.write_text(text.replace(old, "duration: {distribution: lognormal, median_days: 10}"))
    line = 1 + text.splitlines().index(f"    {old}")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}:{line}: manufacturing.in-house.duration.sd_log: required field is missing"
    ]
