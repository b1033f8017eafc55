"""Broken protocol and scenario files give one exact Problem: file, line, field and message."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.errors import InputError, Problem
from sim.spec.load import (
    LoadedProtocol,
    LoadedScenario,
    builtin_dir,
    builtin_ids,
    check_file,
    load_target,
)

PROTOCOL_TEXT = (builtin_dir("protocol") / "cart19-be-02-resume.yaml").read_text(encoding="utf-8")
PROTOCOL_DATA: dict[str, Any] = yaml.safe_load(PROTOCOL_TEXT)


def line_of(text: str, pattern: str, nth: int = 1) -> int:
    """The 1-based line of the nth line of ``text`` that matches the regex ``pattern``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
    assert len(hits) >= nth, (pattern, hits)
    return hits[nth - 1]


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems_of(path: Path) -> tuple[Problem, ...]:
    with pytest.raises(InputError) as exc:
        load_target(str(path))
    return exc.value.problems


def write(tmp_path: Path, text: str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_unbroken_copy_loads(tmp_path: Path) -> None:
    loaded = load_target(str(write(tmp_path, PROTOCOL_TEXT)))
    assert isinstance(loaded, LoadedProtocol)
    assert [f.id for f in loaded.protocol.fractions] == ["F1", "F2", "F3", "F4"]
    dumped = yaml.safe_dump(PROTOCOL_DATA, allow_unicode=True)
    assert isinstance(load_target(str(write(tmp_path, dumped, "dumped.yaml"))), LoadedProtocol)


# --- protocol files broken by editing the text ---------------------------------------------------

F2_DOSE = "dose: {cells_per_kg: 3.0e5}"
CELLS_PER_KG_HINT = " (a plain number of cells per kg: 1.0e5 means 0.1 x10^6/kg)"

TEXT_CASES: list[tuple[str, Callable[[str], str], str, str, int, str]] = [
    # id, edit, field, regex of the offending line, which match, message (exact)
    (
        "unknown-field",
        lambda t: replace_once(t, F2_DOSE, "dose: {cell_per_kg: 3.0e5}"),
        "fractions[1].dose.cell_per_kg",
        "cell_per_kg",
        1,
        "unknown field 'cell_per_kg' (did you mean 'cells_per_kg'?)",
    ),
    (
        "negative-dose",
        lambda t: replace_once(t, F2_DOSE, "dose: {cells_per_kg: -3.0e5}"),
        "fractions[1].dose.cells_per_kg",
        r"cells_per_kg: -3\.0e5",
        1,
        "Input should be greater than or equal to 1000, got -300000.0" + CELLS_PER_KG_HINT,
    ),
    (
        "dose-in-millions",
        lambda t: replace_once(t, F2_DOSE, "dose: {cells_per_kg: 0.1}"),
        "fractions[1].dose.cells_per_kg",
        r"cells_per_kg: 0\.1}",
        1,
        "Input should be greater than or equal to 1000, got 0.1" + CELLS_PER_KG_HINT,
    ),
    (
        "unknown-toxicity",
        lambda t: replace_once(
            t, "when: crs_grade >= 1 or icans_grade >= 1", "when: cytokine_storm >= 1"
        ),
        "gates.safety[1].when",
        "when: cytokine_storm",
        1,
        "unknown name 'cytokine_storm' at column 1; known: ",
    ),
    (
        "delay-without-recheck",
        lambda t: replace_once(
            t,
            "      recheck_h: 24\n      max_wait_h: 336\n      on_timeout: stop\n"
            "      reason: active inf",
            "      max_wait_h: 336\n      on_timeout: stop\n      reason: active inf",
        ),
        "gates.safety[4]",
        "- name: infection",
        1,
        "a delay rule needs recheck_h",
    ),
    (
        "delay-field-on-stop",
        lambda t: replace_once(
            t, "      action: stop\n", "      action: stop\n      recheck_h: 12\n"
        ),
        "gates.safety[0]",
        "- name: severe-crs-or-icans",
        1,
        "recheck_h only apply to action 'delay'",
    ),
    (
        "reduce-without-ladder",
        lambda t: replace_once(
            t, "      action: stop\n", "      action: reduce\n      at_floor: stop\n"
        ),
        "gates.safety[0].action",
        "action: reduce",
        1,
        "'reduce' needs a dose_ladder in the protocol",
    ),
    (
        "share-without-planned-total",
        lambda t: replace_once(t, F2_DOSE, "dose: {share: 0.1}"),
        "fractions[1].dose.share",
        r"dose: \{share: 0\.1\}",
        1,
        "a share needs a planned_total (in the protocol or every dose plan)",
    ),
    (
        "unknown-use-gate",
        lambda t: replace_once(
            t, "    use_gate: safety\n  - id: F4", "    use_gate: safety-gate\n  - id: F4"
        ),
        "fractions[2].use_gate",
        "use_gate: safety-gate",
        1,
        "unknown gate 'safety-gate'; defined gates: safety",
    ),
    (
        "duplicate-fraction-id",
        lambda t: replace_once(t, "- id: F3", "- id: F2"),
        "fractions[2].id",
        "- id: F2",
        2,
        "fraction id 'F2' is used twice",
    ),
    (
        "ld-after-first-infusion",
        lambda t: replace_once(
            t,
            "      mg_per_m2: 300\n      days: [-5, -4, -3]",
            "      mg_per_m2: 300\n      days: [-4, -3, 1]",
        ),
        "lymphodepletion.drugs[1].days",
        r"days: \[-4, -3, 1\]",
        1,
        "lymphodepletion comes before the first infusion (day 0); day 1 is too late",
    ),
    (
        "wrong-action",
        lambda t: replace_once(t, "      action: stop\n", "      action: halt\n"),
        "gates.safety[0].action",
        "action: halt",
        1,
        "Input should be 'give', 'delay', 'skip', 'stop' or 'reduce', got 'halt'",
    ),
]


@pytest.mark.parametrize(
    ("edit", "field", "pattern", "nth", "message"),
    [case[1:] for case in TEXT_CASES],
    ids=[case[0] for case in TEXT_CASES],
)
def test_broken_protocol_text(
    tmp_path: Path,
    edit: Callable[[str], str],
    field: str,
    pattern: str,
    nth: int,
    message: str,
) -> None:
    text = edit(PROTOCOL_TEXT)
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.field == field
    assert problem.line == line_of(text, pattern, nth)
    if message.endswith(": "):
        assert problem.message.startswith(message)
    else:
        assert problem.message == message
    assert str(problem) == f"{path}:{problem.line}: {field}: {problem.message}"


def test_misspelt_required_field_is_both_missing_and_unknown(tmp_path: Path) -> None:
    text = replace_once(PROTOCOL_TEXT, "follow_up:\n", "folow_up:\n")
    path = write(tmp_path, text)
    assert problems_of(path) == (
        Problem(str(path), line_of(text, "^id:"), "follow_up", "required field is missing"),
        Problem(
            str(path),
            line_of(text, "^folow_up:"),
            "folow_up",
            "unknown field 'folow_up' (did you mean 'follow_up'?)",
        ),
    )


def test_small_dose_message_says_it_is_a_plain_number_of_cells(tmp_path: Path) -> None:
    text = replace_once(PROTOCOL_TEXT, F2_DOSE, "dose: {cells_per_kg: 0.1}")
    (problem,) = problems_of(write(tmp_path, text))
    assert "plain number of cells" in problem.message
    assert "1.0e5" in problem.message


def test_flat_cells_hint(tmp_path: Path) -> None:
    text = replace_once(PROTOCOL_TEXT, F2_DOSE, "dose: {cells: 250}")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.field == "fractions[1].dose.cells"
    assert problem.line == line_of(text, r"cells: 250")
    assert "a plain number of cells: 2.5e8, not 250" in problem.message


def test_several_problems_are_all_reported_with_their_own_lines(tmp_path: Path) -> None:
    text = replace_once(PROTOCOL_TEXT, F2_DOSE, "dose: {cell_per_kg: 3.0e5}")
    text = replace_once(text, "dose: {cells_per_kg: 6.0e5}", "dose: {cells_per_kg: -1}")
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert [(p.field, p.line) for p in problems] == [
        ("fractions[1].dose.cell_per_kg", line_of(text, "cell_per_kg")),
        ("fractions[2].dose.cells_per_kg", line_of(text, "cells_per_kg: -1")),
    ]


# --- protocol files broken by editing the data and dumping it -----------------------------------


def edit_data(change: Callable[[dict[str, Any]], None]) -> str:
    data = copy.deepcopy(PROTOCOL_DATA)
    change(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _duplicate_id(d: dict[str, Any]) -> None:
    d["fractions"][3]["id"] = "F1"


def _reduce(d: dict[str, Any]) -> None:
    rule = d["gates"]["safety"][2]
    for key in ("recheck_h", "max_wait_h", "on_timeout"):
        del rule[key]
    rule["action"] = "reduce"
    rule["at_floor"] = "skip"


def _share(d: dict[str, Any]) -> None:
    d["fractions"][3]["dose"] = {"share": 0.5}


def _unknown_gate(d: dict[str, Any]) -> None:
    d["fractions"][0]["use_gate"] = "safe"


def _late_ld(d: dict[str, Any]) -> None:
    d["lymphodepletion"]["drugs"][0]["days"] = [-5, -4, 0]


def _missing_recheck(d: dict[str, Any]) -> None:
    del d["gates"]["safety"][1]["recheck_h"]


def _unknown_field_in_gate(d: dict[str, Any]) -> None:
    d["gates"]["safety"][1]["recheck_hours"] = 6


DATA_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str, int, str]] = [
    (
        "duplicate-id",
        _duplicate_id,
        "fractions[3].id",
        r"^\s*(- )?id: F1$",
        2,
        "fraction id 'F1' is used twice",
    ),
    (
        "reduce-without-ladder",
        _reduce,
        "gates.safety[2].action",
        "action: reduce",
        1,
        "'reduce' needs a dose_ladder in the protocol",
    ),
    (
        "share-without-planned-total",
        _share,
        "fractions[3].dose.share",
        "share: 0.5",
        1,
        "a share needs a planned_total (in the protocol or every dose plan)",
    ),
    (
        "unknown-use-gate",
        _unknown_gate,
        "fractions[0].use_gate",
        "use_gate: safe$",
        1,
        "unknown gate 'safe'; defined gates: safety",
    ),
    (
        "ld-on-day-0",
        _late_ld,
        "lymphodepletion.drugs[0].days",
        r"^\s*days:$",
        1,
        "lymphodepletion comes before the first infusion (day 0); day 0 is too late",
    ),
    (
        "delay-without-recheck",
        _missing_recheck,
        "gates.safety[1]",
        "- name: crs-or-icans$",
        1,
        "a delay rule needs recheck_h",
    ),
    (
        "unknown-field-in-gate",
        _unknown_field_in_gate,
        "gates.safety[1].recheck_hours",
        "recheck_hours: 6",
        1,
        "unknown field 'recheck_hours' (did you mean 'recheck_h'?)",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "pattern", "nth", "message"),
    [case[1:] for case in DATA_CASES],
    ids=[case[0] for case in DATA_CASES],
)
def test_broken_protocol_data(
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    field: str,
    pattern: str,
    nth: int,
    message: str,
) -> None:
    text = edit_data(change)
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    assert problem == Problem(str(path), line_of(text, pattern, nth), field, message)


# --- scenario files ------------------------------------------------------------------------------

SCENARIO = """\
id: test-scenario
title: a scenario for error tests
summary: CRS after F2, then grade 2 set directly
protocol: cart19-be-02
patient:
  weight_kg: 70
  height_cm: 170
  age_y: 40
episodes:
  - name: CRS after F2
    start: {after: F2, hours: 12}
    steps:
      - crs_signs: {temperature_c: 38.6}
        hours: 12
      - set: {crs_grade: 2}
  - name: infection
    start: {day: 5}
    set: {active_infection: true}
    hours: 24
"""


def test_the_unbroken_scenario_loads(tmp_path: Path) -> None:
    loaded = load_target(str(write(tmp_path, SCENARIO, "scenario.yaml")))
    assert isinstance(loaded, LoadedScenario)
    assert loaded.protocol.protocol.id == "cart19-be-02"
    assert len(loaded.scenario.episodes) == 2


SCENARIO_CASES: list[tuple[str, str, str, str, str, int, str]] = [
    # id, old, new, field, regex of the offending line, which match, message (exact or prefix)
    (
        "unknown-fraction",
        "start: {after: F2, hours: 12}",
        "start: {after: F9, hours: 12}",
        "episodes[0].start.after",
        "after: F9",
        1,
        "protocol 'cart19-be-02' has no fraction 'F9'; use one of F1, F2, F3, F4, first_infusion",
    ),
    (
        "non-scriptable-variable",
        "- set: {crs_grade: 2}",
        "- set: {doses_given: 3}",
        "episodes[0].steps[1].set",
        "doses_given",
        1,
        "'doses_given' cannot be set by a script; settable: ",
    ),
    (
        "non-scriptable-variable-shorthand",
        "set: {active_infection: true}",
        "set: {fever: true}",
        "episodes[1].set",
        "set: {fever: true}",
        1,
        "'fever' cannot be set by a script; settable: ",
    ),
    (
        "grade-off-scale",
        "- set: {crs_grade: 2}",
        "- set: {crs_grade: 7}",
        "episodes[0].steps[1].set",
        "crs_grade: 7",
        1,
        "crs_grade is a grade from 0 to 5; 7 is off that scale",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "pattern", "nth", "message"),
    [case[1:] for case in SCENARIO_CASES],
    ids=[case[0] for case in SCENARIO_CASES],
)
def test_broken_scenario(
    tmp_path: Path, old: str, new: str, field: str, pattern: str, nth: int, message: str
) -> None:
    text = replace_once(SCENARIO, old, new)
    path = write(tmp_path, text, "scenario.yaml")
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.field == field
    assert problem.line == line_of(text, pattern, nth)
    if message.endswith(": "):
        assert problem.message.startswith(message)
    else:
        assert problem.message == message


def test_misspelt_crs_sign(tmp_path: Path) -> None:
    text = replace_once(
        SCENARIO, "crs_signs: {temperature_c: 38.6}", "crs_signs: {temperature: 38.6}"
    )
    path = write(tmp_path, text, "scenario.yaml")
    line = line_of(text, "temperature: 38.6")
    field = "episodes[0].steps[0].crs_signs"
    assert problems_of(path) == (
        Problem(str(path), line, f"{field}.temperature_c", "required field is missing"),
        Problem(
            str(path),
            line,
            f"{field}.temperature",
            "unknown field 'temperature' (did you mean 'temperature_c'?)",
        ),
    )


def test_ice_score_for_a_child_under_12(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "  age_y: 40\n", "  age_y: 9\n")
    text = replace_once(text, "- set: {crs_grade: 2}", "- icans_signs: {ice_score: 6}")
    path = write(tmp_path, text, "scenario.yaml")
    outside, problem = problems_of(path)  # a child in an adult protocol, and ICE under 12
    assert outside.field == "patient"
    assert "eligibility.age_y: age 9 y is below the minimum 18 y" in outside.message
    assert problem == Problem(
        str(path),
        line_of(text, "ice_score: 6"),
        "episodes[0].steps[1].icans_signs.ice_score",
        "ASTCT grades ICANS in children under 12 with CAPD, not ICE: give capd_score",
    )


def test_ice_score_for_a_child_under_12_in_a_shorthand_episode(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "  age_y: 40\n", "  age_y: 9\n")
    text = replace_once(text, "set: {active_infection: true}", "icans_signs: {ice_score: 6}")
    path = write(tmp_path, text, "scenario.yaml")
    _, problem = problems_of(path)
    assert problem.field == "episodes[1].icans_signs.ice_score"
    assert problem.line == line_of(text, "ice_score: 6")
    assert problem.message.startswith("ASTCT grades ICANS in children under 12 with CAPD")


def test_capd_score_from_age_12_is_refused(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "  age_y: 40\n", "  age_y: 12\n")
    text = replace_once(text, "- set: {crs_grade: 2}", "- icans_signs: {capd_score: 10}")
    path = write(tmp_path, text, "scenario.yaml")
    # (the 12-year-old is also outside cart19-be-02's eligibility: a second problem)
    (problem,) = [p for p in problems_of(path) if p.field != "patient"]
    assert problem.field == "episodes[0].steps[1].icans_signs.capd_score"
    assert problem.message.startswith("ASTCT grades ICANS from age 12 with the ICE score")


def test_capd_score_for_a_child_is_no_problem(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "  age_y: 40\n", "  age_y: 9\n")
    text = replace_once(text, "- set: {crs_grade: 2}", "- icans_signs: {capd_score: 10}")
    problems = problems_of(write(tmp_path, text, "scenario.yaml"))
    assert [p.field for p in problems] == ["patient"]  # only cart19-be-02's age limit


def test_ice_score_for_a_12_year_old_is_fine(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "  age_y: 40\n", "  age_y: 12\n")
    text = replace_once(text, "- set: {crs_grade: 2}", "- icans_signs: {ice_score: 6}")
    # a paediatric protocol (cart19-be-02 is for adults); it has no F2
    text = replace_once(text, "protocol: cart19-be-02", "protocol: b019")
    text = replace_once(text, "after: F2", "after: F1")
    assert isinstance(load_target(str(write(tmp_path, text))), LoadedScenario)


@pytest.mark.parametrize(
    ("protocol", "detail"),
    [
        ("no-such-protocol", "no protocol file or built-in protocol by that name (built-in: "),
        ("missing.yaml", "no such file"),
        ("sub/missing.yml", "no such file"),
    ],
)
def test_scenario_whose_protocol_does_not_exist(tmp_path: Path, protocol: str, detail: str) -> None:
    text = replace_once(SCENARIO, "protocol: cart19-be-02", f"protocol: {protocol}")
    path = write(tmp_path, text, "scenario.yaml")
    first, second, *rest = problems_of(path)
    assert rest == []
    assert first == Problem(
        str(path), line_of(text, "^protocol:"), "protocol", f"cannot load protocol '{protocol}'"
    )
    assert second.file == protocol
    assert second.message.startswith(detail)
    if "built-in" in detail:
        assert "cart19-be-02" in second.message


def test_scenario_protocol_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "protocols").mkdir()
    write(tmp_path / "protocols", PROTOCOL_TEXT, "mine.yaml")
    text = replace_once(SCENARIO, "protocol: cart19-be-02", "protocol: protocols/mine.yaml")
    loaded = load_target(str(write(tmp_path, text, "scenario.yaml")))
    assert isinstance(loaded, LoadedScenario)
    assert loaded.protocol.origin == "protocols/mine.yaml"


def test_scenario_whose_protocol_file_is_broken_names_both_files(tmp_path: Path) -> None:
    broken = replace_once(PROTOCOL_TEXT, F2_DOSE, "dose: {cells_per_kg: -1}")
    write(tmp_path, broken, "bad-protocol.yaml")
    text = replace_once(SCENARIO, "protocol: cart19-be-02", "protocol: bad-protocol.yaml")
    path = write(tmp_path, text, "scenario.yaml")
    first, second = problems_of(path)
    assert (first.file, first.line, first.field) == (str(path), 4, "protocol")
    assert (second.file, second.line, second.field) == (
        "bad-protocol.yaml",
        line_of(broken, "cells_per_kg: -1"),
        "fractions[1].dose.cells_per_kg",
    )


def test_exponent_numbers_work_in_scenario_scripts(tmp_path: Path) -> None:
    text = replace_once(SCENARIO, "- set: {crs_grade: 2}", "- set: {temperature_c: 3.85e1}")
    loaded = load_target(str(write(tmp_path, text)))
    assert isinstance(loaded, LoadedScenario)
    assert loaded.scenario.episodes[0].steps[1].set == {"temperature_c": 38.5}


# --- the built-in files --------------------------------------------------------------------------


def builtin_files() -> list[Path]:
    return sorted(builtin_dir("protocol").glob("*.yaml")) + sorted(
        builtin_dir("scenario").glob("*.yaml")
    )


def test_there_are_built_in_files() -> None:
    names = [p.stem for p in builtin_files()]
    assert "cart19-be-02" in names
    assert "fractionated-crs-hold" in names


@pytest.mark.parametrize("path", builtin_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_built_in_file_loads_without_problems(path: Path) -> None:
    check_file(str(path))
    loaded = load_target(str(path))
    spec = loaded.protocol if isinstance(loaded, LoadedProtocol) else loaded.scenario
    assert spec.id == path.stem


@pytest.mark.parametrize(
    ("kind", "ident"),
    [("protocol", i) for i in builtin_ids("protocol")]
    + [("scenario", i) for i in builtin_ids("scenario")],
)
def test_every_built_in_id_loads(kind: str, ident: str) -> None:
    loaded = load_target(ident)
    expected = LoadedProtocol if kind == "protocol" else LoadedScenario
    assert isinstance(loaded, expected)
    folder = "protocols" if kind == "protocol" else "scenarios"
    assert loaded.origin == f"{folder}/{ident}.yaml"
