"""The search page in a real headless Chromium, against the real service on 127.0.0.1.

One browser session and one uvicorn server (:func:`service.service_kit.serve`) for the module.
Each test drives the page as a person would (types, ticks, presses Enter), waits for the page to
say it is done, and checks what it shows against ``POST /v1/search`` asked the same thing
directly. Skips when selenium, Debian's ``chromium`` or ``chromium-driver`` is missing
(``make install`` as root installs them).
"""

from __future__ import annotations

import shutil

import httpx
import pytest
from service.page_kit import QUERY, build_app
from service.service_kit import WAIT_S, serve

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

K = 4


def _chromium() -> tuple[str, str]:
    driver = shutil.which("chromedriver")
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if driver is None or browser is None:
        pytest.skip(
            "headless browser test needs chromium and chromedriver "
            f"(found chromium={browser}, chromedriver={driver}); "
            "apt-get install chromium chromium-driver, or `make install` as root"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serve(build_app(tmp_path_factory.mktemp("page-browser"))) as url:
        yield url


@pytest.fixture
def page(browser, base):
    """The page freshly opened, once it has checked the service."""
    browser.get(f"{base}/")
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "service-state").text.startswith("ready"))
    return browser


# ---------------------------------------------------------------------------- helpers


def api(base: str, **body) -> dict:
    """``POST /v1/search`` directly, as the page sends it: without ``validate`` if the service does not know it."""
    with httpx.Client(base_url=base, timeout=WAIT_S) as client:
        answer = client.post("/v1/search", json=body)
        if answer.status_code == 422 and body.pop("validate", None) and "validate" in answer.text:
            answer = client.post("/v1/search", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def fill(page, *, query: str, mode: str = "hybrid", rerank: bool = True, k: int = K, filters: str = "") -> None:
    """Set the form as a person would, then press Enter in the query box."""
    page.find_element(By.ID, f"mode-{mode}").click()
    box = page.find_element(By.ID, "rerank")
    if box.is_selected() != rerank:
        box.click()
    for field, value in (("k", str(k)), ("filters", filters), ("query", query)):
        element = page.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    page.find_element(By.ID, "query").send_keys(Keys.ENTER)


def wait_done(page) -> str:
    """Wait until the page has rendered an answer (or an error); return the state."""
    status = page.find_element(By.ID, "status")
    WebDriverWait(page, WAIT_S).until(lambda d: status.get_attribute("data-state") in ("done", "error"))
    return status.get_attribute("data-state")


def shown(page, column: str) -> list[dict]:
    """The hits a column shows: id, rank, score and title as text."""
    rows = page.find_elements(By.CSS_SELECTOR, f"#{column} .hits li[data-id]")
    return [
        {
            "id": row.get_attribute("data-id"),
            "rank": row.find_element(By.CLASS_NAME, "rank").text,
            "score": row.find_element(By.CLASS_NAME, "score").text,
            "title": row.find_element(By.CLASS_NAME, "title").text,
        }
        for row in rows
    ]


def expected(answer: dict) -> list[dict]:
    return [
        {"id": h["id"], "rank": f"{i}.", "score": f"{h['score']:.4f}", "title": h["title"]}
        for i, h in enumerate(answer["hits"], 1)
    ]


def visible(page, element_id: str) -> bool:
    return page.find_element(By.ID, element_id).is_displayed()


# ---------------------------------------------------------------------------- tests


def test_a_query_shows_the_first_stage_and_the_reranked_list_side_by_side(page, base, tmp_path):
    fill(page, query=QUERY)
    assert wait_done(page) == "done", page.find_element(By.ID, "error").text
    first = api(base, query=QUERY, mode="hybrid", k=K)
    reranked = api(base, query=QUERY, mode="hybrid", k=K, rerank=True, validate=True)
    assert shown(page, "first") == expected(first)
    assert shown(page, "reranked") == expected(reranked)
    assert [h["id"] for h in reranked["hits"]] != [h["id"] for h in first["hits"]]  # two different lists
    first_timings = page.find_element(By.CSS_SELECTOR, "#first .timings").text
    rerank_timings = page.find_element(By.CSS_SELECTOR, "#reranked .timings").text
    assert all(f"{stage} " in first_timings for stage in first["timings_ms"]), first_timings
    assert "rerank " in rerank_timings and "total " in rerank_timings, rerank_timings
    assert page.find_element(By.CSS_SELECTOR, "#first .snippet").text == first["hits"][0]["text"]  # short: whole
    assert visible(page, "validation") == ("validation" in reranked)  # rendered only when the service sends it
    if "validation" in reranked:
        assert page.find_element(By.ID, "verdict").text == reranked["validation"]["verdict"]
    assert not visible(page, "route")  # only mode auto routes
    assert "q=vitamin" in page.current_url  # the search can be shared as a link
    page.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_auto_mode_shows_the_route_and_filters_apply_without_rerank(page, base):
    fill(page, query=QUERY, mode="auto", rerank=False, filters="topic=bones\nyear>=2019")
    assert wait_done(page) == "done", page.find_element(By.ID, "error").text
    answer = api(base, query=QUERY, mode="auto", k=K, filters=["topic=bones", "year>=2019"], validate=True)
    assert shown(page, "first") == expected(answer)
    assert {h["doc_id"] for h in answer["hits"]} == {"d-bones", "d-calcium"}
    assert not visible(page, "reranked")
    assert visible(page, "route")
    summary = page.find_element(By.ID, "route-summary").text
    assert f"auto → {answer['route']['route']}" in summary and answer["route"]["kind"] in summary
    reasons = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#route-reasons li")]
    assert reasons == answer["route"]["reasons"]


def test_a_bad_filter_shows_the_services_message(page, base):
    fill(page, query=QUERY, filters="year >> 2019")
    assert wait_done(page) == "error"
    with httpx.Client(base_url=base, timeout=WAIT_S) as client:
        message = client.post("/v1/search", json={"query": QUERY, "filters": ["year >> 2019"]}).json()["message"]
    assert message in page.find_element(By.ID, "error").text
    assert not visible(page, "columns")


#: A verdict in the shape the service's ``validation`` field has; the script below adds it to the
#: service's real answers, so this test runs whether or not this service validates.
VALIDATION = {
    "verdict": "fail",
    "probability": 0.12,
    "threshold": 0.5,
    "reasons": ["no hit mentions 'vitamn'"],
    "suggestions": {"spelling": [{"term": "vitamn", "suggestion": "vitamin"}], "related": ["calcium"]},
}
WITH_VALIDATION = """
const verdict = arguments[0];
window.sentBodies = [];
const realFetch = window.fetch;
window.fetch = async (url, init) => {
  const body = JSON.parse(init && init.body || "null");
  if (url !== "/v1/search") return realFetch(url, init);
  window.sentBodies.push({...body});
  delete body.validate;  // the real service answers; the verdict is added to its answer
  const response = await realFetch(url, {...init, body: JSON.stringify(body)});
  const answer = await response.json();
  if (response.ok && body.query.includes("vitamn")) answer.validation = verdict;
  return new Response(JSON.stringify(answer), {status: response.status, headers: {"Content-Type": "application/json"}});
};
"""


def test_a_verdict_is_shown_and_a_suggestion_runs_the_search_again(page, base):
    page.execute_script(WITH_VALIDATION, VALIDATION)
    fill(page, query="vitamn D", rerank=False)
    assert wait_done(page) == "done"
    assert page.find_element(By.ID, "verdict").text == "fail"
    assert "probability 0.120" in page.find_element(By.ID, "validation-score").text
    assert [li.text for li in page.find_elements(By.CSS_SELECTOR, "#validation-reasons li")] == VALIDATION["reasons"]
    spelling = page.find_element(By.CSS_SELECTOR, "#suggest-spelling button")
    assert spelling.text == "vitamn → vitamin"
    assert page.execute_script("return window.sentBodies[0].validate") is True

    spelling.click()
    WebDriverWait(page, WAIT_S).until(lambda d: d.execute_script("return window.sentBodies.length") == 2)
    assert wait_done(page) == "done"
    assert page.find_element(By.ID, "query").get_attribute("value") == "vitamin D"
    assert shown(page, "first") == expected(api(base, query="vitamin D", mode="hybrid", k=K))
    assert not visible(page, "validation")  # the new answer carries no verdict


def test_a_related_term_is_added_to_the_query(page, base):
    page.execute_script(WITH_VALIDATION, VALIDATION)
    fill(page, query="vitamn", rerank=False)
    assert wait_done(page) == "done"
    page.find_element(By.CSS_SELECTOR, "#suggest-related button").click()
    WebDriverWait(page, WAIT_S).until(lambda d: d.execute_script("return window.sentBodies.length") == 2)
    assert wait_done(page) == "done"
    assert page.execute_script("return window.sentBodies[1].query") == "vitamn calcium"
    assert shown(page, "first") == expected(api(base, query="vitamn calcium", mode="hybrid", k=K))
