"""Every built-in protocol and scenario loads, cites a source and runs."""

from __future__ import annotations

import pytest

from sim.records import ledger
from sim.spec.load import builtin_ids, load_protocol
from sim.targets import run_target

PROTOCOLS = builtin_ids("protocol")
REQUIRED = {
    "cart19-be-02",
    "chop-cart19-cns",
    "car-dli-ld",
    "car-dli-no-ld",
    "b019",
    "msk-19-28z",
    "penn-split",
}


def test_the_issue_protocols_are_built_in() -> None:
    assert set(PROTOCOLS) >= REQUIRED


@pytest.mark.parametrize("ident", PROTOCOLS)
def test_protocol_loads_cites_its_source_and_runs(ident: str) -> None:
    loaded = load_protocol(ident)
    p = loaded.protocol
    assert p.id == ident
    assert p.source.citation and p.source.trial
    assert p.source.status == "verified" or p.assumptions, "unverified protocols list assumptions"
    result = run_target(ident)
    assert ledger(result.events), "a quiet run gives at least one dose"
    assert result.events[-1].kind == "end"


@pytest.mark.parametrize("ident", builtin_ids("scenario"))
def test_scenario_runs(ident: str) -> None:
    result = run_target(ident)
    assert result.scenario == ident
    assert result.events[-1].kind == "end"
