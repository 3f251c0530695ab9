"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

A real `instructforge serve` process with API keys on, a dataset holding the 175 seed tasks and a snapshot,
and a real generation job: the engine is remote, a scripted OpenAI-compatible `/v1/completions` server in
this process (`ScriptedEngine`), slow enough (a fixed delay per request) that the job runs for several
seconds while the page polls it. Screenshots are kept under tests/artifacts/dashboard/. A second, shorter
test mixes seeds with an import whose rows partly have no answer yet (no engine).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar.testing import TestClient
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import assert_error
from tests.service.scripted_engine import ScriptedEngine, scripted_engine
from tests.service.servers import Server, free_port

KEY = "dashboard-test-key"
HEADERS = {"X-API-Key": KEY}
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ENGINE_DELAY_S = 0.6  # per completion request: an accepting round (list, classify, instance) takes about 2 s
TARGET = 4
# What the scripted model lists, one per round; three are rejected (too short, a program, a seed's duplicate).
SCRIPT = [
    "Write a limerick about a forgetful astronaut who misplaces the moon.",
    "Draw.",
    "Describe three practical ways a small bakery can reduce its food waste.",
    "Write a program that sorts a list of numbers.",
    "Plan a two-day hiking itinerary through a coastal national park.",
    None,  # the first seed task's instruction, verbatim: an exact duplicate
    "Explain how vaccines train the immune system to recognise a virus.",
    "Suggest five names for a podcast about urban gardening.",
    "Compose a short lullaby for a sleepy baby otter.",
]


# ---- the page's figures, read from the plotly graph divs ----

_CHARTS = """
const read = (id) => {
  const div = document.getElementById(id);
  if (!div.data) { const note = div.querySelector('.empty'); return note ? {empty: note.textContent} : null; }
  return div.data.map((t) => ({type: t.type, x: t.x, y: t.y, labels: t.labels, values: t.values,
                               ids: t.ids, parents: t.parents}));
};
return Object.fromEntries([...document.querySelectorAll('.chart')].map((div) => [div.id, read(div.id)]));
"""


def expected_charts(stats: dict, composition: dict) -> dict:
    """What each chart must hold: /stats and /composition, as the page is meant to draw them."""
    reasons = list(stats["rejections_by_reason"])[::-1]
    share = stats["classification"]["count"]
    lengths = composition["lengths"]

    def bars(x: list, y: list, kind: str = "bar") -> list[dict]:
        return [{"type": kind, "x": x, "y": y}]

    def pie(counts: dict) -> list[dict]:
        return [{"type": "pie", "labels": list(counts), "values": list(counts.values())}]

    return {
        "chart-category": bars(list(stats["by_category"]), list(stats["by_category"].values())),
        "chart-classification": pie({"classification": share, "other": stats["tasks"] - share}),
        "chart-source": pie(stats["by_source"]),
        "chart-rejections": bars([stats["rejections_by_reason"][r] for r in reasons], reasons)
        if reasons
        else {"empty": "no rejections"},
        "chart-instruction-length": bars(lengths["instruction"]["starts"], lengths["instruction"]["counts"]),
        "chart-output-length": bars(lengths["output"]["starts"], lengths["output"]["counts"]),
        "chart-verbs": [{"type": "sunburst", **composition["sunburst"]}],
        "chart-quality": {"empty": "no judged tasks"},  # no judge ran
        "chart-kill-rate": {"empty": "no mutation-scored code tasks"},  # no code job ran
    }


def assert_charts_match(driver: webdriver.Chrome, stats: dict, composition: dict) -> None:
    shown = driver.execute_script(_CHARTS)
    for chart, expected in expected_charts(stats, composition).items():
        drawn = shown[chart]
        if isinstance(expected, list):
            assert drawn is not None and len(drawn) == 1, (chart, drawn)
            drawn = [{k: v for k, v in drawn[0].items() if k in expected[0]}]
        assert drawn == expected, chart
    # the two endpoints agree with each other, so the charts add up to the same totals
    assert sum(stats["by_category"].values()) == composition["lengths"]["instruction"]["total"] == stats["tasks"]
    assert composition["lengths"]["output"]["total"] == stats["instances"]


# ---- fixtures ----


def _chrome(downloads: Path) -> webdriver.Chrome:
    for program in (CHROMIUM, CHROMEDRIVER):  # a missing browser fails the test: `make install` installs it
        assert Path(program).is_file(), f"{program} is missing: apt-get install chromium chromium-driver"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,2200", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = _chrome(tmp_path / "downloads")
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def engine() -> Iterator[ScriptedEngine]:
    with scripted_engine(SCRIPT, ENGINE_DELAY_S) as server:
        yield server


@pytest.fixture
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def console_errors(driver: webdriver.Chrome) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def api(server: Server, method: str, path: str, headers: dict | None = None, **kwargs) -> dict:
    response = httpx.request(method, f"{server.url}{path}", headers=HEADERS | (headers or {}), timeout=60, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def figures(server: Server, dataset: str) -> tuple[dict, dict]:
    return (api(server, "GET", f"/v1/datasets/{dataset}/stats?balance=false"),
            api(server, "GET", f"/v1/datasets/{dataset}/composition"))  # fmt: skip


def loaded(driver: webdriver.Chrome, dataset: str, stats: dict) -> Callable[[], bool]:
    marker = f"{dataset}:{stats['tasks']}:{stats['rejections']}"
    return lambda: driver.execute_script("return document.body.dataset.loaded") == marker


# ---- tests ----


def test_the_page_and_its_files_are_public_and_the_data_needs_the_key(settings: Settings) -> None:
    keyed = msgspec.structs.replace(settings, server=msgspec.structs.replace(settings.server, api_keys=(KEY,)))
    with TestClient(app=create_app(keyed)) as client:
        page = client.get("/dashboard")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert 'src="/dashboard/static/plotly.min.js"' in page.text
        plotly_js = client.get("/dashboard/static/plotly.min.js")
        packaged = Path(__import__("plotly").__file__).parent / "package_data" / "plotly.min.js"
        assert plotly_js.status_code == 200 and plotly_js.content == packaged.read_bytes()
        for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
            asset = client.get(f"/dashboard/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind), name
        assert_error(client.get("/dashboard/static/app.py"), 404, "not_found")
        dataset = client.post("/v1/datasets", json={"name": "d"}, headers=HEADERS).json()["id"]
        assert_error(client.get(f"/v1/datasets/{dataset}/composition"), 401, "unauthorized")
        assert client.get(f"/v1/datasets/{dataset}/composition", headers=HEADERS).json()["tasks"] == 0
        assert_error(client.get("/v1/datasets/ds_missing/composition", headers=HEADERS), 404, "dataset_not_found")


def open_with_key(driver: webdriver.Chrome, server: Server, artifacts: Path) -> None:
    """The page is public; its data is not: it asks for the key and keeps it in sessionStorage."""
    driver.get(f"{server.url}/dashboard")
    form = wait_for(lambda: (e := driver.find_element(By.ID, "api-key")).is_displayed() and e, 20, "the key form")
    driver.save_screenshot(artifacts / "01-asks-for-the-key.png")
    form.send_keys(KEY)
    driver.find_element(By.ID, "save-key").click()
    wait_for(lambda: driver.execute_script("return document.body.dataset.loaded"), 20, "the first figures")
    assert driver.execute_script("return sessionStorage.getItem('instructforge.apiKey')") == KEY
    severe = console_errors(driver)  # the 401s before the key was given, and nothing else
    assert severe and all("401" in entry["message"] for entry in severe), severe


def check_snapshot_row(driver: webdriver.Chrome, server: Server, snapshot: dict, downloads: Path) -> None:
    """Each file has its link, the counts are the manifest's, and the keyed download gives the file's bytes."""
    row = f'tr[data-snapshot-id="{snapshot["id"]}"]'
    links = {a.text: a for a in driver.find_elements(By.CSS_SELECTOR, f"{row} a")}
    assert {f["name"] for f in snapshot["files"] + snapshot["documents"]} <= set(links)
    cells, counts = driver.find_elements(By.CSS_SELECTOR, f"{row} td"), snapshot["counts"]
    assert cells[0].text == "1" and cells[2].text == f"{counts['train']['tasks']} / {counts['validation']['tasks']}"
    data_file = snapshot["files"][0]
    assert links[data_file["name"]].get_attribute("href") == f"{server.url}{data_file['url']}"
    links[data_file["name"]].click()
    saved = downloads / data_file["name"]
    wait_for(saved.is_file, 20, "the downloaded snapshot file")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == data_file["sha256"]


def watch_job(driver: webdriver.Chrome, job_id: str, artifacts: Path, timeout: float = 40) -> list[list]:
    """The (status, accepted) states the job's row went through, as the page showed them, until it finished."""
    script = f"""const row = document.querySelector('tr[data-job-id="{job_id}"]');
                 return row && [row.dataset.status, Number(row.dataset.accepted)];"""
    seen: list[list] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (seen and seen[-1][0] not in ("queued", "running")):
        state = driver.execute_script(script)
        if state and state not in seen:
            seen.append(state)
            if state == ["running", 1]:
                driver.save_screenshot(artifacts / "03-job-running.png")
        time.sleep(0.2)
    return seen


@pytest.mark.server
def test_the_dashboard_in_a_real_browser(
    tmp_path: Path, seed_bytes: bytes, browser: webdriver.Chrome, engine: ScriptedEngine, artifacts: Path
) -> None:
    engine.script[SCRIPT.index(None)] = json.loads(seed_bytes.splitlines()[0])["instruction"]
    remote = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": engine.url}
    # one round at a time: the job takes about 10 s, long enough to watch it move
    env = remote | {"INSTRUCTFORGE_API_KEYS": KEY, "INSTRUCTFORGE_ROUNDS_IN_FLIGHT": "1"}
    server = Server(tmp_path / "data", free_port(), env)
    try:
        server.wait_ready()
        wait_for(lambda: api(server, "GET", "/v1/engine")["status"] == "ready", 30, "the remote engine")
        dataset = api(server, "POST", "/v1/datasets", json={"name": "self-instruct-seeds"})["id"]
        api(server, "POST", f"/v1/datasets/{dataset}/seeds", content=seed_bytes,
            headers={"content-type": "application/x-ndjson"})  # fmt: skip
        snapshot = api(server, "POST", f"/v1/datasets/{dataset}/snapshots", json={})

        open_with_key(browser, server, artifacts)
        stats, composition = figures(server, dataset)
        assert stats["tasks"] == 175 and stats["by_source"] == {"seed": 175}
        wait_for(loaded(browser, dataset, stats), 20, "the seeds' figures")
        assert_charts_match(browser, stats, composition)
        browser.save_screenshot(artifacts / "02-seed-tasks.png")
        check_snapshot_row(browser, server, snapshot, tmp_path / "downloads")

        config = {"prompts_per_round": 1, "max_rounds_without_accept": 3}
        job = api(server, "POST", "/v1/jobs", json={"dataset_id": dataset, "target": TARGET, "config": config})
        seen = watch_job(browser, job["id"], artifacts)
        final = api(server, "GET", f"/v1/jobs/{job['id']}")
        assert final["status"] == "succeeded" and final["accepted"] == TARGET, final
        running = [accepted for status, accepted in seen if status == "running"]
        assert len(set(running)) >= 2 and running == sorted(running), seen  # the progress moved, live
        assert seen[-1] == ["succeeded", TARGET], seen

        # the figures after the job: generated tasks and their rejections, as /stats and /composition say
        stats, composition = figures(server, dataset)
        assert stats["by_source"] == {"seed": 175, "generated": TARGET}
        assert {"too_short", "asks_for_program", "exact_duplicate"} <= set(stats["rejections_by_reason"])
        wait_for(loaded(browser, dataset, stats), 20, "the figures after the job")
        assert_charts_match(browser, stats, composition)
        assert console_errors(browser) == []
        browser.save_screenshot(artifacts / "04-after-the-job.png")
    finally:
        server.stop()


def test_the_source_mix_shows_an_import_and_its_unanswered_tasks(
    tmp_path: Path, seed_bytes: bytes, browser: webdriver.Chrome
) -> None:
    """Seeds and an Alpaca import of which two rows have no answer yet: the source pie and the summary say so."""
    rows = [
        {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Sleep, eat well, move."},
        {"instruction": "Explain why the sky looks blue by day.", "input": "", "output": "Rayleigh scattering."},
        {"instruction": "Convert 25 degrees Celsius to Fahrenheit.", "input": "", "output": "77 F."},
        {"instruction": "Name the largest planet in the solar system.", "input": "", "output": ""},
        {"instruction": "Translate 'good morning' into Spanish.", "input": "", "output": ""},
    ]
    ndjson = {"content-type": "application/x-ndjson"}
    server = Server(tmp_path / "data", free_port(), {"INSTRUCTFORGE_API_KEYS": KEY})
    try:
        server.wait_ready()
        dataset = api(server, "POST", "/v1/datasets", json={"name": "mixed-sources"})["id"]
        api(server, "POST", f"/v1/datasets/{dataset}/seeds", content=b"\n".join(seed_bytes.splitlines()[:4]) + b"\n",
            headers=ndjson)  # fmt: skip
        body = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        api(server, "POST", f"/v1/datasets/{dataset}/imports", params={"source": "alpaca", "license": "CC-BY-NC-4.0"},
            content=body, headers=ndjson)  # fmt: skip
        stats, composition = figures(server, dataset)
        assert stats["by_source"] == {"alpaca": 5, "seed": 4} and stats["unanswered"] == 2
        assert stats["sources"]["alpaca"] == {"tasks": 5, "instances": 3, "unanswered": 2}

        open_with_key(browser, server, tmp_path)
        wait_for(loaded(browser, dataset, stats), 20, "the mixed dataset's figures")
        assert_charts_match(browser, stats, composition)  # the pie: {"alpaca": 5, "seed": 4}
        summary = browser.find_element(By.ID, "summary").text
        assert summary.startswith("9 tasks, 7 instances (") and "2 tasks with no answer yet (alpaca 2), " in summary
        assert console_errors(browser) == []
    finally:
        server.stop()
