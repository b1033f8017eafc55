"""The HTML report: content, escaping, self-containment, and a real browser loading it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort import CohortSetup
from sim.report import html_parts
from sim.report.html import cohort_report, run_report
from sim.spec.load import builtin_dir, load_protocol
from sim.targets import run_target

runner = CliRunner()
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:|//|file:))"""
    r"""|url\(\s*["']?\s*(?:https?:|//)|@import|<script\b[^>]*\bsrc|<link\b|<iframe\b|<object\b""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def one_html() -> str:
    return run_report(run_target("fractionated-crs-hold"))


@pytest.fixture(scope="module")
def cohort_html() -> str:
    loaded = [load_protocol("cart19-be-02"), load_protocol("msk-19-28z")]
    return cohort_report(loaded, CohortSetup(seed=2), 8)


def element(html: str, css_id: str) -> str:
    """The opening tag and content of the element with this id (up to its closing tag)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(css_id)}"', html)
    assert match is not None, f"no element with id {css_id}"
    tag = match.group(1)
    end = html.index(f"</{tag}>", match.start())
    return html[match.start() : end]


def test_one_run_report_has_every_part(one_html: str) -> None:
    summary = element(one_html, "summary")
    for text in ("cart19-be-02", "fractionated-crs-hold", "70 kg", "seed", "cartsim version"):
        assert text in summary
    assert "F3 given after a delay" in summary  # the patient's decision path
    timeline = element(one_html, "run-timeline")
    assert "<svg" in timeline and "F3 held 2 days" in timeline
    schedule = element(one_html, "run-schedule")
    assert schedule.count("<tr>") == 5  # header + F1..F4
    assert "2 days" in schedule
    assert "crs-or-icans" in element(one_html, "run-decisions")
    narrative = element(one_html, "run-narrative")
    assert "Rule &#x27;crs-or-icans&#x27; fires" in narrative
    assert "Not clinical advice" in one_html


def test_cohort_report_has_every_part(cohort_html: str) -> None:
    comparison = element(cohort_html, "comparison")
    assert "cart19-be-02 (n = 8)" in comparison and "msk-19-28z (n = 8)" in comparison
    assert "MRD-negative CR at day 28" in comparison
    differences = element(cohort_html, "differences")
    assert "full planned dose delivered" in differences and "full_dose_rate" not in differences
    for i in (0, 1):
        assert "given on time" in element(cohort_html, f"paths-{i}")
        assert "<svg" in element(cohort_html, f"patient-{i}-timeline")
        assert "<tr>" in element(cohort_html, f"patient-{i}-schedule")
    for figure in ("swimmer", "survival", "doses"):
        assert "<svg" in element(cohort_html, figure)
    assert "wall_s" not in cohort_html  # timings would make the file differ run to run


def test_report_is_self_contained(one_html: str, cohort_html: str) -> None:
    for html in (one_html, cohort_html):
        assert EXTERNAL.search(html) is None, EXTERNAL.search(html)
        assert "<script" not in html
        assert "Content-Security-Policy" in html
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids))  # several inline SVGs never share an id
        refs = set(re.findall(r"url\(#([^)]+)\)", html)) | set(re.findall(r'href="#([^"]+)"', html))
        assert refs <= set(ids)


def test_same_inputs_same_report(one_html: str) -> None:
    assert run_report(run_target("fractionated-crs-hold")) == one_html


def test_text_is_escaped(tmp_path: Path) -> None:
    original = (builtin_dir("protocol") / "cart19-be-02.yaml").read_text(encoding="utf-8")
    title = re.search(r"^title: (.*)$", original, re.MULTILINE)
    assert title is not None
    tricky = original.replace(title.group(0), 'title: "Fractions <b>&</b> <script>x</script>"')
    path = tmp_path / "tricky.yaml"
    path.write_text(tricky, encoding="utf-8")
    html = run_report(run_target(str(path)))
    assert "<b>&</b>" not in html and "<script>" not in html
    assert "Fractions &lt;b&gt;&amp;&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;" in html
    assert html_parts.facts([("a<", "b&")]) == (
        '<table class="facts"><tr><th>a&lt;</th><td>b&amp;</td></tr></table>'
    )


# --- command line ---------------------------------------------------------------------------


def test_cli_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "fractionated-crs-hold", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.html",
        "report.html.provenance.json",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fractionated-crs-hold", "-o", "OUT.txt"], "the report is written as .html"),
        (["fractionated-crs-hold", "--patients", "3", "-o", "OUT.html"], "is a scenario"),
        (["cart19-be-02", "-o", "MISSING/r.html"], "no such folder"),
    ],
)
def test_cli_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    args = [
        a.replace("MISSING", str(tmp_path / "missing")).replace("OUT", str(tmp_path / "r"))
        for a in args
    ]
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


# --- a real browser -------------------------------------------------------------------------

# Injected by the test only (the report has no script): records script errors, failed
# resources and blocked requests, then writes what it saw into the DOM.
PROBE = """<script>
window.__problems = [];
window.addEventListener("error", function (e) {
  window.__problems.push("error:" + (e.message || (e.target && e.target.tagName)));
}, true);
document.addEventListener("securitypolicyviolation", function (e) {
  window.__problems.push("blocked:" + e.blockedURI);
});
window.addEventListener("load", function () {
  var probe = document.createElement("div");
  probe.id = "probe";
  var svg = document.querySelector("figure svg");
  probe.setAttribute("data-problems", String(window.__problems.length));
  probe.setAttribute("data-details", window.__problems.join(" | "));
  probe.setAttribute("data-figures", String(document.querySelectorAll("figure svg").length));
  probe.setAttribute("data-tables", String(document.querySelectorAll("table").length));
  var width = svg ? Math.round(svg.getBoundingClientRect().width) : 0;
  probe.setAttribute("data-timeline-width", String(width));
  document.body.appendChild(probe);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CARTSIM_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required (CARTSIM_REQUIRE_CHROMIUM is set) but not installed")
        pytest.skip("chromium is not installed")
    return found


def load_in_browser(browser: str, html: str, tmp_path: Path) -> tuple[str, str]:
    # the probe needs inline script; everything else stays as strict as in the report
    probed = html.replace(
        "default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1
    ).replace("<head>", "<head>" + PROBE, 1)
    page = tmp_path / "page.html"
    page.write_text(probed, encoding="utf-8")
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def probe(dom: str) -> dict[str, str]:
    match = re.search(r'<div id="probe"([^>]*)>', dom)
    assert match is not None, "the page did not finish loading"
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(1)))


@pytest.mark.parametrize("which", ["one", "cohort"])
def test_report_loads_in_headless_chromium(
    which: str, one_html: str, cohort_html: str, tmp_path: Path
) -> None:
    browser = chromium()
    html = one_html if which == "one" else cohort_html
    dom, log = load_in_browser(browser, html, tmp_path)
    seen = probe(dom)
    assert seen["problems"] == "0", seen["details"]
    assert "Refused to" not in log and "Uncaught" not in log
    assert int(seen["timeline-width"]) > 300  # the first figure (the timeline) is laid out
    if which == "one":
        assert seen["figures"] == "1"
        assert 'id="run-timeline"' in dom and 'id="run-schedule"' in dom
    else:
        assert seen["figures"] == "5"  # swimmer, KM, doses, one timeline per arm
        for css_id in ("comparison", "paths-0", "paths-1", "swimmer", "patient-1-timeline"):
            assert f'id="{css_id}"' in dom
    assert int(seen["tables"]) >= 3
