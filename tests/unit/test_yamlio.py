"""Safe YAML parsing with line numbers (sim.spec.yamlio) and the loader's top-level check."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.errors import InputError, Problem
from sim.spec import yamlio
from sim.spec.load import load_target
from sim.spec.yamlio import MAX_DEPTH, MAX_NODES, parse_yaml

NESTED = """\
# a comment line
top:
  nested:
    leaf: 1
  items:
    - a
    - name: b
      value: 2
    - [x, y]
after: end
"""


def only_problem(exc: pytest.ExceptionInfo[InputError]) -> Problem:
    assert len(exc.value.problems) == 1, exc.value.problems
    return exc.value.problems[0]


def test_data_is_parsed() -> None:
    located = parse_yaml(NESTED, "f.yaml")
    assert located.data == {
        "top": {"nested": {"leaf": 1}, "items": ["a", {"name": "b", "value": 2}, ["x", "y"]]},
        "after": "end",
    }
    assert located.source == "f.yaml"


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("top",), 2),
        (("top", "nested"), 3),
        (("top", "nested", "leaf"), 4),
        (("top", "items"), 5),
        (("top", "items", 0), 6),
        (("top", "items", 1), 7),
        (("top", "items", 1, "name"), 7),
        (("top", "items", 1, "value"), 8),
        (("top", "items", 2), 9),
        (("top", "items", 2, 1), 9),
        (("after",), 10),
    ],
)
def test_line_of_nested_keys_and_list_items(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(NESTED).line_of(path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("top", "items", 1, "missing"), 7),  # a missing field: its parent's line
        (("top", "nested", "other", "deeper"), 3),
        (("top", "items", 7), 5),
    ],
)
def test_line_of_missing_path_falls_back_to_nearest_ancestor(
    path: tuple[str | int, ...], line: int
) -> None:
    assert parse_yaml(NESTED).line_of(path) == line


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "a"),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", 4, "b"),
        ("items:\n  - x: 1\n    y: 2\n    x: 3\n", 4, "x"),
        ("a: {k: 1, k: 2}\n", 1, "k"),
    ],
)
def test_duplicate_key_is_an_error_naming_its_line(text: str, line: int, key: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "dup.yaml")
    assert only_problem(exc) == Problem("dup.yaml", line, "", f"duplicate key '{key}'")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("a: 1\nb:\n\tc: 2\n", 3),
        ("a: 'unclosed\nb: 2\n", 3),
        ("a: 1\n---\nb: 2\n", 2),
    ],
)
def test_syntax_error_names_its_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "bad.yaml")
    problem = only_problem(exc)
    assert problem.file == "bad.yaml"
    assert problem.line == line
    assert problem.message.startswith("YAML syntax error: ")


@pytest.mark.parametrize("raw", ["", "   \n\n", b"", b"\n \t\n"])
def test_empty_file(raw: str | bytes) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(raw, "empty.yaml")
    assert only_problem(exc) == Problem("empty.yaml", None, "", "the file is empty")


def test_file_of_comments_only_holds_no_document() -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml("# just a comment\n", "c.yaml")
    assert only_problem(exc).message == "the file holds no YAML document"


@pytest.mark.parametrize(
    ("raw", "offset", "line"),
    [
        ("a: café\n".encode("latin-1"), 6, 1),
        (b"\xff\xfea: 1\n", 0, 1),
        ("a: 1\n".encode("utf-16"), 0, 1),
        (b"a: 1\nb: \xc3\n", 8, 2),
        (b"a: 1\nb: 2\n\nc: \x80\n", 14, 4),
    ],
)
def test_non_utf8_bytes_are_rejected_with_offset_and_line(
    raw: bytes, offset: int, line: int
) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(raw, "enc.yaml")
    assert only_problem(exc) == Problem(
        "enc.yaml", line, "", f"not UTF-8 text (bad byte at offset {offset})"
    )


def test_utf8_bytes_with_bom_and_accents_are_fine() -> None:
    located = parse_yaml("\ufeffname: café\n".encode(), "u.yaml")
    assert located.data == {"name": "café"}


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\nb: \x07\n", 2), ("a: 1\x00\n", 1), ("a: 1\nb: 2\nc: \x1b[31m\n", 3)],
)
def test_control_characters_are_an_input_error_with_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "ctl.yaml")
    problem = only_problem(exc)
    assert problem.line == line
    assert "not allowed in a YAML file" in problem.message


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a\n  b:\n    c: [1, *a]\n"],
)
def test_recursive_alias_is_rejected(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "rec.yaml")
    problem = only_problem(exc)
    assert problem.file == "rec.yaml"
    assert problem.message == "recursive alias: a value refers to itself"


def billion_laughs(levels: int) -> str:
    """Each level lists the previous one ten times: 10**levels values once expanded."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast_with_a_clear_message() -> None:
    text = billion_laughs(9)  # 10**9 strings if expanded
    start = time.perf_counter()
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "bomb.yaml")
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0
    problem = only_problem(exc)
    assert problem.file == "bomb.yaml"
    assert problem.message == f"file expands to more than {MAX_NODES} values (alias bomb?)"


def test_alias_expansion_is_counted_against_max_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = billion_laughs(2)  # about 111 + 111 values: fine by default
    data = parse_yaml(text).data
    assert len(data["l2"]) == 10
    assert data["l2"][9] == data["l1"]
    monkeypatch.setattr(yamlio, "MAX_NODES", 100)
    with pytest.raises(InputError, match="more than 100 values"):
        parse_yaml(text)


def test_nesting_deeper_than_max_depth_is_rejected() -> None:
    fine = "a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert parse_yaml(fine).data["a"] is not None
    deep = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(InputError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_yaml(deep)


def test_extremely_deep_nesting_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(InputError):
        parse_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n")


MERGE = """\
defaults: &defaults
  recheck_h: 12
  max_wait_h: 168
  on_timeout: stop
rule:
  name: crs
  <<: *defaults
  max_wait_h: 72
other:
  max_wait_h: 24
  <<: *defaults
"""


def test_merge_keys_work_and_explicit_keys_win() -> None:
    data = parse_yaml(MERGE).data
    assert data["rule"] == {"name": "crs", "recheck_h": 12, "max_wait_h": 72, "on_timeout": "stop"}
    assert data["other"] == {"max_wait_h": 24, "recheck_h": 12, "on_timeout": "stop"}
    assert data["defaults"]["max_wait_h"] == 168


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("rule", "max_wait_h"), 8),
        (("other", "max_wait_h"), 10),  # explicit key before '<<' keeps its own line
        (("rule", "recheck_h"), 2),  # a merged value: the line it was written on
        (("defaults", "max_wait_h"), 3),
    ],
)
def test_merge_key_lines(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(MERGE).line_of(path) == line


def test_merge_of_several_mappings_first_wins() -> None:
    text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n"
    assert parse_yaml(text).data["c"] == {"x": 1, "y": 1, "z": 3}


def test_merge_of_a_list_is_rejected() -> None:
    with pytest.raises(InputError, match="merge key '<<' must refer to a mapping"):
        parse_yaml("a: &a [1, 2]\nb:\n  <<: *a\n")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("1.0e5", 1.0e5),
        ("1e5", 1.0e5),
        ("-3.0e5", -3.0e5),
        ("2.5e+8", 2.5e8),
        ("3.85e1", 38.5),
        ("0.1", 0.1),
        ("12", 12),
    ],
)
def test_exponent_numbers_are_numbers(literal: str, value: float) -> None:
    got = parse_yaml(f"x: {literal}\n").data["x"]
    assert not isinstance(got, str)
    assert got == value


@pytest.mark.parametrize("literal", ["1e", "e5", "F1", "0.1 x10^6/kg", "'1e5'"])
def test_text_that_only_looks_numeric_stays_text(literal: str) -> None:
    assert isinstance(parse_yaml(f"x: {literal}\n").data["x"], str)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: !!python/name:os.system\n", "unsupported YAML tag"),
        ("a: 1\nb: !custom 1\n", "unsupported YAML tag"),
        ("a: 1\nb: !!binary G1szMW0=\n", "unsupported YAML tag"),
        ("a: 1\nb: !!python/object/apply:os.system ['echo hi']\n", "unsupported YAML tag"),
        ("a: 1\nb: !!python/object:os.Thing {x: 1}\n", "unsupported YAML tag"),
        ("a: 1\nb: !!set {x: 1}\n", "unsupported YAML tag"),
    ],
)
def test_tags_are_rejected_not_constructed(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text, "tag.yaml")
    problem = only_problem(exc)
    assert problem.line == 2
    assert message in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "mapping keys must be plain names"),
        ("~: 1\n", "mapping key None is not a plain name"),
    ],
)
def test_odd_keys_are_rejected(text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_yaml(text)
    assert only_problem(exc).message == message


@pytest.mark.parametrize(
    "text",
    ["- id: F1\n- id: F2\n", "just some text\n", "42\n", "~\n"],
)
def test_loader_rejects_a_top_level_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_target(str(path))
    assert only_problem(exc) == Problem(str(path), 1, "", "expected a mapping of fields at the top")
