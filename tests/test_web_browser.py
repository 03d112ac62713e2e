"""End-to-end tests in a real browser: Debian's chromium driven by Playwright.

Each test does what a researcher does (upload, click, read the table, hover, download) on
a real ``nasurf serve`` process, and takes a screenshot (``NASURF_SCREENSHOTS=DIR`` keeps
them). Numbers read off the page are checked against the Python API.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from web_server import server_fixture

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.xdist_group("web")]

CHROMIUM = Path("/usr/bin/chromium")
NA_MPR = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"


server = server_fixture("--no-seed")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError("/usr/bin/chromium is missing: .ci/run installs it with apt")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--disable-background-networking", "--no-sandbox",
                                    "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server, tmp_path_factory, request):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith(server.url) or r.url.startswith(
        ("data:", "blob:")) else outside.append(r.url))
    pg.set_default_timeout(45_000)
    pg.base = server.url  # type: ignore[attr-defined]
    yield pg
    folder = Path(os.environ.get("NASURF_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
    ctx.close()
    assert not errors, errors          # no JavaScript error on any page
    assert not outside, outside        # nothing fetched from the internet


def upload_in_browser(page, paths):
    page.goto(page.base + "/files")
    with page.expect_navigation():
        page.set_input_files("#file-input", [str(p) for p in paths])


def test_upload_mpr_cycling_table_plot_and_csv(page, realdata):
    from nasurf.analysis import cycling_summary
    from nasurf.io import read

    upload_in_browser(page, [realdata / NA_MPR])
    page.click(f"text={Path(NA_MPR).name}")
    page.wait_for_selector("#quicklook .main-svg")
    assert "biologic-mpr" in page.inner_text("main")
    page.fill('form[data-kind="cycling"] input[name="mass_mg"]', "10")
    with page.expect_navigation(url="**/results/**"):
        page.click('form[data-kind="cycling"] button')
    page.wait_for_selector("#capacity-plot .main-svg")
    ref = cycling_summary(read(realdata / NA_MPR, active_mass_g=0.01), active_mass_g=0.01)
    rows = page.locator("#cycles-table tbody tr")
    assert rows.count() == len(ref.cycles)
    # every shown desodiation capacity equals the Python API's ('–' where it has none, e.g.
    # the cathode file's unfinished last cycle)
    shown = [rows.nth(i).locator("td").nth(3).inner_text() for i in range(rows.count())]
    shown_values = [np.nan if t.strip() in ("–", "") else float(t) for t in shown]
    np.testing.assert_allclose(shown_values, ref.cycles["desodiation_mAh_g"], rtol=1e-3)
    assert page.locator("#capacity-plot .scatterlayer .trace").count() == 3
    with page.expect_download() as dl:
        page.click("text=CSV")
    table = pd.read_csv(io.BytesIO(Path(dl.value.path()).read_bytes()))
    np.testing.assert_allclose(table["desodiation_mAh_g"], ref.cycles["desodiation_mAh_g"],
                               rtol=1e-12)
    np.testing.assert_allclose(table["coulombic_efficiency"],
                               ref.cycles["coulombic_efficiency"], rtol=1e-12)


def test_sample_sheet_two_groups_comparison(page, tmp_path):
    from test_web_api import CELLS, sheet_text, write_cells

    upload_in_browser(page, write_cells(tmp_path))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(sheet_text())
    page.goto(page.base + "/samples")
    with page.expect_navigation():
        page.set_input_files("#sheet-input", str(sheet))
    assert page.locator("#samples-table tbody tr").count() == len(CELLS)
    with page.expect_navigation(url="**/results/**"):
        page.click("text=Compare groups")
    page.wait_for_selector("#study-plot .main-svg")
    text = page.inner_text("#groups-table")
    assert "alpha" in text and "beta" in text
    ice = [r for r in page.locator("#groups-table tbody tr").all_inner_texts()
           if "initial_coulombic_efficiency" in r and r.startswith("alpha")]
    want = np.mean([CELLS[n][3][0] / CELLS[n][2][0] for n in ("A1", "A2")])
    assert float(ice[0].split("\t")[5]) == pytest.approx(want, rel=1e-3)
    # two groups, each a band + a mean line
    assert page.locator("#study-plot .scatterlayer .trace").count() == 6
    # and placed among the literature: the KB points plus one marker per group
    page.wait_for_selector("#study-literature .main-svg")
    assert page.locator("#study-literature .scatterlayer .trace").count() == 3
    # the PDF figure downloads, and the study report opens as a page of its own
    with page.expect_download() as dl:
        page.click('#study-exports a[href$="capacity_ce.pdf"]')
    assert Path(dl.value.path()).read_bytes().startswith(b"%PDF-")
    page.click("#study-report-link")
    page.wait_for_selector("figure svg")
    assert "initial_coulombic_efficiency" in page.inner_text("body")


def test_cv_set_b_values(page, tmp_path):
    from test_cli_cv_gitt import write_cv_files

    files = [Path(p) for p in write_cv_files(tmp_path)]
    upload_in_browser(page, files)
    page.goto(page.base + "/cv")
    for f in files:
        page.locator("tr", has_text=f.name).locator("input[type=checkbox]").check()
    page.fill('input[name="vertex_exclusion_mV"]', "0")
    with page.expect_navigation(url="**/results/**"):
        page.click("text=Run CV kinetics")
    page.wait_for_selector("#bmap-plot .main-svg")
    bs = [float(t) for t in page.locator("#peaks-table td.b").all_inner_texts()]
    assert len(bs) == 2 and bs == pytest.approx([0.5905, 0.5905], abs=1e-3)  # methods.md §1(c)


def test_kb_filter_and_hover_citation(page):
    page.goto(page.base + "/kb")
    page.wait_for_selector("#rate-map .main-svg")
    total = int(page.inner_text("#kb-count").split()[0])
    page.select_option('select[name="strategy"]', "heterointerfaces")
    page.click("#kb-filters button")
    page.wait_for_function(
        f"!document.getElementById('kb-count').textContent.startsWith('{total} ')")
    n = int(page.inner_text("#kb-count").split()[0])
    assert 0 < n < total
    strategies = page.locator("#kb-table tbody tr td:nth-child(3)").all_inner_texts()
    assert set(strategies) == {"heterointerfaces"}
    point = page.locator("#rate-map .scatterlayer .point").first
    point.hover(force=True)
    page.wait_for_selector("#rate-map .hoverlayer .hovertext")
    hover = page.locator("#rate-map .hoverlayer").text_content()
    assert "ref" in hover and "heterointerfaces" in hover
    assert "<br>" not in hover          # line breaks are markup, not literal text


def test_strategy_comparison(page):
    page.goto(page.base + "/sim")
    with page.expect_navigation(url="**/results/**", timeout=300_000):
        page.click("text=Run comparison")
    page.wait_for_selector("#compare-plot .main-svg")
    # per strategy: the rate steps and the recovery step back at the first current
    assert page.locator("#compare-plot .scatterlayer .trace").count() == 4
    assert page.locator(".compare-table").count() == 2


def test_eis_fit(page, realdata):
    from nasurf.analysis.eis import Circuit, analyze_eis
    from nasurf.io import read

    upload_in_browser(page, [realdata / "yadg/peis.mpr"])
    page.click("text=peis.mpr")
    page.wait_for_selector("#quicklook .main-svg")
    page.fill('input[name="circuit"]', "R0-p(R1,CPE1)")
    with page.expect_navigation(url="**/results/**"):
        page.click('form[data-kind="eis"] button')
    page.wait_for_selector("#nyquist-plot .main-svg")
    ref = analyze_eis(read(realdata / "yadg/peis.mpr"), Circuit("R0-p(R1,CPE1)"))
    want = ref.to_dict()["spectra"][0]["parameters"]
    rows = page.locator("table.eis-params tr").all_inner_texts()[1:]
    got = {r.split("\t")[0]: float(r.split("\t")[1]) for r in rows}
    assert got.keys() == want.keys()
    for k, v in got.items():
        assert v == pytest.approx(want[k]["value"], rel=1e-3)  # 4 significant figures shown


def test_bad_file_shows_one_line_error(page, tmp_path):
    junk = tmp_path / "notes.mpr"
    junk.write_text("not a measurement\n")
    upload_in_browser(page, [junk])
    page.click("text=notes.mpr")
    err = page.inner_text(".error-line")
    assert "notes.mpr" in err and "\n" not in err.strip()
    assert "Traceback" not in page.content()


def test_running_job_survives_reload_and_can_be_cancelled(page):
    page.goto(page.base + "/sim")
    # a slow CV on every preset (~8 s here once the engines got faster; a 200-cycle
    # comparison now ends in ~1 s), so it still runs after the reload and is cancelled
    page.select_option('select[name="protocol"]', "cv")
    page.fill('input[name="scan_rate_mV_s"]', "0.005")
    for s in ("heterointerfaces", "2d_superlattices", "surface_structural_disorder",
              "surface_functionalisation", "interfacial_chemical_bonds"):
        page.check(f'input[name="strategies"][value="{s}"]')
    page.click("text=Run comparison")
    page.wait_for_selector("#job:not([hidden])")
    page.reload()                                   # the page picks the job up again
    page.wait_for_selector("#job:not([hidden])")
    assert "sim_compare" in page.inner_text("#job-text")
    page.click("#job-cancel")
    page.wait_for_selector("#notice:not([hidden])", timeout=300_000)
    assert "cancelled" in page.inner_text("#notice")
    page.goto(page.base + "/jobs")
    assert "cancelled" in page.inner_text("table")


def test_fit_to_measured_file_and_sweep_with_progress(page, tmp_path):
    from nasurf.io import read
    from nasurf.io.table import CURRENT, TIME, VOLTAGE
    from nasurf.sim import fit_parameters, simulate

    d = simulate("hard_carbon", ["Sodiate at 200 mA g-1 until 0.01 V"]).echem()
    d.data[VOLTAGE] += np.random.default_rng(2).normal(0.0, 2e-3, len(d.data))
    csv = tmp_path / "hc_fit.csv"
    d.data[[TIME, VOLTAGE, CURRENT]].to_csv(csv, index=False)
    mass_mg = d.metadata.active_mass_g * 1e3
    upload_in_browser(page, [csv])
    page.goto(page.base + "/sim#fit")
    form = page.locator("#fit-form")
    form.locator('tr:has-text("hc_fit.csv") input[type="radio"]').check()
    form.locator('input[name="params"]').fill("D")
    form.locator('input[name="bounds"]').fill("D=0.1:10:log")
    form.locator('input[name="mass_mg"]').fill(repr(mass_mg))
    form.locator('input[name="starts"]').fill("1")
    with page.expect_navigation(url="**/results/**", timeout=300_000):
        form.locator("button").click()
    page.wait_for_selector("#fit-plot .main-svg")
    assert page.locator("#fit-plot .scatterlayer .trace").count() == 2   # measured + fit
    want = fit_parameters(read(csv, active_mass_g=mass_mg * 1e-3), material="hard_carbon",
                          parameters={"D": (0.1, 10.0, "log")}, n_starts=1,
                          active_mass_g=mass_mg * 1e-3)
    cells = page.locator("#fit-table tr").nth(1).all_inner_texts()[0].split("\t")
    assert float(cells[2]) == pytest.approx(want.values["D"], rel=1e-3)  # 4 figures shown
    shots = Path(os.environ.get("NASURF_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "fit_overlay.png"), full_page=True)
    # a sweep shows its progress while it runs, then its figure
    page.goto(page.base + "/sim#sweep")
    sweep = page.locator("#sweep-form")
    sweep.locator('select[name="protocol"]').select_option("discharge")
    sweep.locator('textarea[name="axes"]').fill("k0=0.1:10:log:5")
    sweep.locator('input[name="currents_mA_g"]').fill("100")
    sweep.locator("button").click()
    page.wait_for_function("document.getElementById('job-text') && "
                           "/parameter sets/.test(document.getElementById('job-text').textContent)"
                           " || location.pathname.startsWith('/results/')", timeout=300_000)
    page.wait_for_url("**/results/**", timeout=300_000)
    page.wait_for_selector("#sweep-plot .main-svg")
    assert page.locator("#sweep-table tr").count() == 6


def test_token_page_shows_token_once_and_revokes(page, server):
    from nasurf.web import security
    from nasurf.web.workspace import Workspace

    page.goto(page.base + "/tokens")
    page.fill('#token-form input[name="name"]', "lab-laptop")
    page.click("text=Create token")
    page.wait_for_selector("#new-token-box:not([hidden])")
    token = page.inner_text("#new-token").strip()
    assert security.check_token(Workspace(server.workspace), token) == "lab-laptop"
    shots = Path(os.environ.get("NASURF_SCREENSHOTS") or server.workspace.parent)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "token_created.png"), full_page=True)
    page.reload()                                       # shown once: gone after a reload
    assert token not in page.content()
    page.once("dialog", lambda d: d.accept())
    with page.expect_navigation():
        page.click('[data-revoke="lab-laptop"]')
    assert "revoked" in page.inner_text("#tokens-table")
    assert security.check_token(Workspace(server.workspace), token) is None


def _no_creation_date(pdf: bytes) -> bytes:
    # matplotlib stamps the time of writing into a PDF's info dictionary; all else is the
    # same for the same figure
    import re

    return re.sub(rb"/CreationDate \(D:\d+Z?\)", b"", pdf)


def test_figure_pdf_download_is_the_library_figure(page, realdata):
    import tempfile

    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling import cycling_summary
    from nasurf.figures.style import write_figure
    from nasurf.io import read

    upload_in_browser(page, [realdata / NA_MPR])
    page.click(f"text={Path(NA_MPR).name}")
    page.wait_for_selector("#quicklook .main-svg")
    page.fill('form[data-kind="cycling"] input[name="mass_mg"]', "12")
    with page.expect_navigation(url="**/results/**"):
        page.click('form[data-kind="cycling"] button')
    page.wait_for_selector("#capacity-plot .main-svg")
    links = page.locator("#figure-files a")
    assert links.count() == 9            # capacity/CE, profiles, dQ/dV x PDF, SVG, PNG
    with page.expect_download() as dl:
        page.locator('#figure-files a[href$="/capacity_ce.pdf"]').click()
    assert dl.value.suggested_filename.endswith("-capacity_ce.pdf")
    got = Path(dl.value.path()).read_bytes()
    res = cycling_summary(read(realdata / NA_MPR, active_mass_g=0.012), active_mass_g=0.012)
    with tempfile.TemporaryDirectory() as tmp:
        want = write_figure(pc.capacity_ce_figure(res), Path(tmp) / "c.pdf").read_bytes()
    assert got.startswith(b"%PDF") and _no_creation_date(got) == _no_creation_date(want)


def test_measured_file_overlaid_on_a_simulated_comparison(page, realdata):
    from nasurf.analysis.cycling import cycling_summary
    from nasurf.io import read

    upload_in_browser(page, [realdata / NA_MPR])
    page.goto(page.base + "/sim")
    form = page.locator('form[data-kind="sim_compare"]')
    form.locator('select[name="protocol"]').select_option("cycling")
    form.locator('input[name="cycles"]').fill("5")
    form.locator('input[value="surface_oxygen_vacancies"]').uncheck()
    form.locator('select[name="measured_file_id"]').select_option(label=Path(NA_MPR).name)
    with page.expect_navigation(url="**/results/**", timeout=300_000):
        form.locator("button").click()
    page.wait_for_selector("#compare-plot .main-svg")
    assert Path(NA_MPR).name in page.inner_text("#measured-note")
    legend = page.locator("#compare-plot .legendtext").all_text_contents()
    # a positive electrode (2-3.8 V): its capacity per cycle is the sodiation one, so named
    assert any(t.startswith("measured (sodiation): ") for t in legend), legend
    # the black points are the measured capacities per cycle (cycling_summary's)
    trace = page.evaluate("""() => {const p = document.getElementById('compare-plot');
        const t = p.data.find(t => t.name.startsWith('measured')); return [t.x, t.y];}""")
    truth = cycling_summary(read(realdata / NA_MPR))
    c = truth.cycles[truth.cycles["cycle"] >= 1]
    proc = "desodiation" if truth.extra.get("electrode", "anode") == "anode" else "sodiation"
    assert trace[0] == list(c["cycle"])
    np.testing.assert_allclose(np.array(trace[1], dtype=float),
                               c[f"{proc}_mAh_g"].to_numpy(dtype=float), rtol=1e-12)
    assert page.locator('#figure-files a[href$="/comparison.pdf"]').count() == 1
