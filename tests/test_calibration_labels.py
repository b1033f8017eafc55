"""Calibration intervals are labelled by where they came from (issue 15, item 8):
a published CI, an exact Clopper-Pearson CI computed here from n/N, or a tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from sim.calibration import Target, load_targets
from sim.cli import app
from sim.errors import InputError

runner = CliRunner()

BASE: dict[str, Any] = {
    "id": "t",
    "protocol": "cart19-be-02",
    "population": "adult-rr-ball",
    "endpoint": "full_dose_rate",
    "value": 0.5,
    "unit": "fraction",
    "source": "test",
    "status": "V",
}


def test_the_shipped_targets_are_labelled_from_their_own_fields() -> None:
    targets = {t.id: t for t in load_targets()[0].targets}
    computed = targets[
        "be02-cr-mrdneg-d28"
    ]  # "95% CI computed here (exact Clopper-Pearson, 27/32)"
    assert computed.source_of_interval() == "clopper_pearson"
    assert computed.interval_words() == "exact Clopper-Pearson 95% CI computed here from 27/32"
    assert targets["msk-crs-severe"].source_of_interval() == "published_ci"  # NEJM: 26% (15-40)
    assert targets["chop-cns-os-12m"].source_of_interval() == "tolerance"
    assert targets["chop-cns-os-12m"].interval_words() == "tolerance +/-10 points"
    assert not any(
        t.interval_words() == "published 95% CI" and "computed here" in (t.notes or "")
        for t in targets.values()
    ), "no interval computed here is called published"


def test_a_computed_interval_must_match_its_count(tmp_path: Path) -> None:
    wrong = {
        **BASE,
        "ci_low": 0.1,
        "ci_high": 0.9,
        "notes": "95% CI computed here (exact Clopper-Pearson, 5/10); not published.",
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"targets": [wrong]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"target t: the Clopper-Pearson interval of 5/10 is"):
        load_targets(path)
    right = {**wrong, "ci_low": 0.1871, "ci_high": 0.8129}
    path.write_text(yaml.safe_dump({"targets": [right]}), encoding="utf-8")
    (target,) = load_targets(path)[0].targets
    assert target.source_of_interval() == "clopper_pearson"


def test_an_explicit_interval_source_wins_and_is_checked() -> None:
    published = Target.model_validate(
        {**BASE, "ci_low": 0.4, "ci_high": 0.6, "interval_source": "published_ci"}
    )
    assert published.interval_words() == "published 95% CI"
    with pytest.raises(ValidationError, match="interval_source 'tolerance' but ci_low"):
        Target.model_validate(
            {**BASE, "ci_low": 0.4, "ci_high": 0.6, "interval_source": "tolerance"}
        )
    with pytest.raises(ValidationError, match="needs ci_low/ci_high"):
        Target.model_validate(
            {**BASE, "tolerance": {"abs": 0.1}, "interval_source": "clopper_pearson"}
        )


def test_calibrate_shows_the_label_and_says_calibration_not_validation(tmp_path: Path) -> None:
    target = {**BASE, "tolerance": {"abs": 0.5}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"targets": [target]}), encoding="utf-8")
    out = runner.invoke(app, ["calibrate", "--targets", str(path), "--patients", "5", "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output)["targets"][0]
    assert row["interval_source"] == "tolerance"
    assert row["interval"] == "tolerance +/-50 points"
    text = runner.invoke(app, ["calibrate", "--targets", str(path), "--patients", "5"])
    assert "(tolerance +/-50 points)" in text.output
    assert "calibration, not validation" in text.output
