"""The portal in a real browser: Playwright driving Debian's Chromium against a real `arx serve` over
HTTPS (SQLite or PostgreSQL, as the suite runs). The issue's flows, axe-core on every page (no serious
or critical violation), right-to-left layout. With ARX_SCREENSHOTS_DIR set (tools/screenshots.py),
the main pages are also saved as PNG files there."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.support.database import DatabaseFactory
from tests.support.e2e import Server, Site, make_site
from tests.support.factories import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")
axe_api = pytest.importorskip("axe_playwright_python.sync_playwright")

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Every kind of page the portal serves: test_axe_checked_every_page fails if one was not checked.
PAGES = {"login", "account", "totp-enrolment", "notices", "notice-form", "notice-form-errors",
         "notice", "notice-edit", "not-found", "search", "search-results", "parties",
         "paris-paragraphs", "forbidden", "notices-fr", "notice-rtl", "stats"}
SHOTS = Path(os.environ["ARX_SCREENSHOTS_DIR"]) if os.environ.get("ARX_SCREENSHOTS_DIR") else None
SCREENSHOTS = {"login", "notices", "notice", "notice-form-errors", "search-results", "totp-enrolment",
               "notices-fr", "notice-rtl", "not-found", "stats"}


@dataclass
class State:
    """What the flows hand each other (they run in file order, on one site and server)."""

    server: Server
    browser: Any
    pages: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    notice_url: str = ""
    checked: set[str] = field(default_factory=set)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("portal-site"), databases.empty(),
                     ARX_PORTAL_REQUIRE_TOTP="true")


@pytest.fixture(scope="module")
def state(site: Site) -> Iterator[State]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    server = Server(site).start()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield State(server=server, browser=browser)
        finally:
            browser.close()
            server.stop()


def new_page(state: State, base_url: str | None = None, javascript: bool = True) -> Any:
    context = state.browser.new_context(ignore_https_errors=True,
                                        base_url=base_url or state.server.url,
                                        viewport={"width": 1280, "height": 860}, locale="en-GB",
                                        java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    page = context.new_page()
    # A CSP refusal (inline script or style, a foreign source) or a script error shows up here.
    page.on("console", lambda message: state.console_errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: state.console_errors.append(str(error)))
    return page


def check_accessible(state: State, page: Any, name: str) -> None:
    """axe-core on the page as it stands: no serious or critical violation."""
    results = axe_api.Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in bad)
    state.checked.add(name)
    if SHOTS is not None and name in SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(state: State, username: str, javascript: bool = True) -> Any:
    """A signed-in page for username, enrolling TOTP in the portal on first sign-in (mandatory here)."""
    if username in state.pages:
        return state.pages[username]
    page = new_page(state, javascript=javascript)
    page.goto("/")
    assert page.url.endswith("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account"))
    assert "Two-step sign-in is required" in page.content()
    page.get_by_role("button", name="Set up two-step sign-in").click()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert page.locator(".qr svg").count() == 1
    state.secrets[username] = secret
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and turn on").click()
    page.wait_for_url(re.compile(r"/account\?done=totp"))
    assert "Two-step sign-in is now on" in page.content()
    state.pages[username] = page
    return page


def main_text(page: Any) -> str:
    return str(page.locator("main").inner_text())


# -- the flows -----------------------------------------------------------------------------------------
def test_sign_in_with_totp_enrolment(state: State) -> None:
    page = new_page(state)
    page.goto("/login")
    check_accessible(state, page, "login")
    page.get_by_label("Username").fill("fra_fp")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().count("Invalid username") == 1
    assert page.get_by_label("Username").input_value() == "fra_fp"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/account"))
    check_accessible(state, page, "account")
    page.get_by_role("button", name="Set up two-step sign-in").click()
    check_accessible(state, page, "totp-enrolment")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill("000000" if pyotp.TOTP(secret).now() != "000000"
                                                else "111111")
    page.get_by_role("button", name="Confirm and turn on").click()
    assert page.locator("#code-error").is_visible()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm and turn on").click()
    page.wait_for_url(re.compile(r"done=totp"))
    page.goto("/notices")
    assert page.url.endswith("/notices")
    check_accessible(state, page, "notices")
    state.pages["fra_fp"] = page
    state.secrets["fra_fp"] = secret


def test_post_a_notice_with_two_subjects_and_an_asset(state: State) -> None:
    page = state.pages["fra_fp"]
    page.get_by_role("link", name="Post a notice").click()
    page.wait_for_url(re.compile(r"/notices/new"))
    check_accessible(state, page, "notice-form")
    page.get_by_label("Title").fill("Accounts frozen under order 2026/114")
    page.get_by_label("ICC — International Criminal Court").check()
    page.get_by_label("13 — The Court").check()
    page.locator("#subjects-0-name").fill("Viktor Yanukovych")
    page.locator("#subjects-0-birth_date").fill("1950-07-09")
    page.locator("#subjects-0-nationality").fill("UKR")
    page.locator("#subjects-0-identifiers-0-value").fill("EK123456")
    page.get_by_role("button", name="Add a subject").click()  # portal.js copies the row in place
    assert page.locator("fieldset.subject").count() == 2
    assert page.locator("fieldset.subject legend").nth(1).inner_text() == "Subject 2"
    assert page.locator("#subjects-1-name").input_value() == ""
    page.locator("#subjects-1-name").fill("Jean-Pierre Exemple")
    page.locator("#subjects-1-nationality").fill("XXX")  # wrong on purpose
    page.locator("#assets-0-type").select_option("bank_account")
    page.locator("#assets-0-status").select_option("frozen")
    page.locator("#assets-0-identifier").fill("CH9300762011623852957")
    page.locator("#assets-0-amount").fill("1250000.00")
    page.locator("#assets-0-currency").fill("EUR")
    page.get_by_role("button", name="Post the notice").click()
    error = page.locator("#subjects-1-nationality-error")
    assert "ISO 3166-1 alpha-3" in error.inner_text()
    assert page.locator("#subjects-1-nationality").get_attribute("aria-invalid") == "true"
    assert page.locator("#subjects-1-nationality").input_value() == "XXX"
    assert page.locator("#subjects-0-name").input_value() == "Viktor Yanukovych"
    assert page.evaluate("document.activeElement.id") == "error-summary"  # announced first
    check_accessible(state, page, "notice-form-errors")
    page.locator("#subjects-1-nationality").fill("FRA")
    page.get_by_role("button", name="Post the notice").click()
    page.wait_for_url(re.compile(r"/notices/[0-9a-f-]{36}\?saved=1"))
    text = main_text(page)
    assert "Viktor Yanukovych" in text and "Jean-Pierre Exemple" in text
    assert "€1,250,000.00" in text and "Frozen" in text
    assert page.locator(".tlp-amber").is_visible()
    check_accessible(state, page, "notice")
    state.notice_url = page.url.split("?")[0]


def test_another_state_gets_the_not_found_page(state: State) -> None:
    page = sign_in(state, "nld_fp")
    response = page.goto(state.notice_url)
    assert response is not None and response.status == 404
    hidden = main_text(page)
    check_accessible(state, page, "not-found")
    response = page.goto("/notices/00000000-0000-4000-8000-000000000000")
    assert response is not None and response.status == 404
    assert main_text(page) == hidden and "Yanukovych" not in page.content()


def test_the_court_finds_it_by_a_transliterated_name_and_opens_it(state: State) -> None:
    page = sign_in(state, "icc_inv")
    page.get_by_role("link", name="Suspect search").click()
    check_accessible(state, page, "search")
    page.get_by_label("Name").fill("Виктор Янукович")
    page.get_by_role("button", name="Search").click()
    row = page.locator("tbody tr").first
    assert "Viktor Yanukovych" in row.inner_text() and "name" in row.inner_text()
    assert "Виктор" not in page.url
    check_accessible(state, page, "search-results")
    row.get_by_role("link", name="Open the notice").click()
    page.wait_for_url(state.notice_url)
    assert "Viktor Yanukovych" in main_text(page)
    assert page.get_by_role("heading", name="Access log").count() == 0  # the author's only
    assert page.get_by_role("link", name="Revise this notice").count() == 0


def test_revise_it_and_see_the_history(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto(state.notice_url)
    page.get_by_role("link", name="Revise this notice").click()
    check_accessible(state, page, "notice-edit")
    page.get_by_label("Title").fill("Accounts seized under order 2026/114")
    page.locator("#assets-0-status").select_option("seized")
    page.get_by_role("button", name="Save the revision").click()
    page.wait_for_url(re.compile(r"saved=1"))
    history = page.locator("#history").inner_text()
    assert "Accounts frozen under order 2026/114 → Accounts seized under order 2026/114" in history
    assert "Assets" in history


def test_the_author_sees_the_investigators_read_in_the_access_log(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto(state.notice_url)
    rows = page.locator("#access-log tbody tr").all_inner_texts()
    assert any("ICC" in r and "Court investigator" in r and "read" in r for r in rows)
    assert any("ICC" in r and "found it by a search" in r for r in rows)


def test_a_form_without_its_csrf_token_is_refused(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto("/notices")
    page.evaluate("document.querySelector('form[action=\"/logout\"] input[name=csrf_token]')"
                  ".remove()")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Sign out").click()
    assert navigation.value.status == 403
    assert "Forbidden" in main_text(page)
    check_accessible(state, page, "forbidden")
    page.goto("/notices")
    assert page.url.endswith("/notices")  # the refused logout changed nothing


def test_reference_pages(state: State) -> None:
    page = state.pages["fra_fp"]
    page.get_by_role("link", name="Parties").click()
    assert "NLD" in main_text(page)
    check_accessible(state, page, "parties")
    page.get_by_role("link", name="Paris Declaration").click()
    assert "13" in main_text(page)
    check_accessible(state, page, "paris-paragraphs")


def test_statistics_page_shows_its_charts_as_images(state: State) -> None:
    page = state.pages["fra_fp"]
    page.get_by_role("link", name="Statistics").click()
    assert "Notices per Paris Declaration paragraph" in main_text(page)
    # Every chart image loaded (an SVG the CSP or a bad document broke has no natural width).
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "main img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    broken = [(src, page.request.get(src).status) for src, _, width in images if not width]
    assert images and not broken, (images, broken)
    check_accessible(state, page, "stats")


def test_french_pages(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto(state.notice_url + "?lang=fr")
    assert page.locator("html").get_attribute("lang") == "fr"
    text = main_text(page)
    assert "Historique des révisions" in text and "Saisi" in text
    assert re.search(r"1\s250\s000,00\s€", text)
    page.goto("/notices")  # remembered without ?lang
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("link", name="Publier une notice").count() == 1
    check_accessible(state, page, "notices-fr")
    page.goto("/notices?lang=en")


def test_right_to_left_layout_mirrors(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto(state.notice_url)
    links = page.locator(".main-nav a")
    ltr = [links.nth(i).bounding_box()["x"] for i in range(2)]
    assert ltr[0] < ltr[1]
    page.evaluate("document.documentElement.dir = 'rtl'")
    rtl = [links.nth(i).bounding_box()["x"] for i in range(2)]
    assert rtl[0] > rtl[1], "navigation should run right to left"
    width = page.evaluate("document.documentElement.clientWidth")
    brand = page.locator(".brand").bounding_box()
    assert brand["x"] > width / 2, "the brand should sit on the right"
    cell = page.locator("#history td").first
    assert page.evaluate("(e) => getComputedStyle(e).textAlign", cell.element_handle()) in (
        "start", "right")
    check_accessible(state, page, "notice-rtl")


def test_keyboard_focus_is_visible(state: State) -> None:
    page = state.pages["fra_fp"]
    page.goto("/notices")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # moved into view
    for _ in range(3):
        page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle + ' ' +"
                            "getComputedStyle(document.activeElement).boxShadow")
    assert outline != "none none", outline


def test_every_flow_works_without_javascript(state: State) -> None:
    page = sign_in(state, "deu_fp", javascript=False)  # TOTP enrolment included
    page.goto("/notices/new")
    page.locator("#subjects-0-name").fill("Kept Name")
    with page.expect_navigation():
        page.get_by_role("button", name="Add a subject").click()  # a round trip to the server
    assert page.locator("fieldset.subject").count() == 2
    assert page.locator("#subjects-0-name").input_value() == "Kept Name"
    page.get_by_label("Title").fill("Posted without JavaScript")
    page.get_by_label("ICC — International Criminal Court").check()
    page.get_by_label("13 — The Court").check()
    page.get_by_role("button", name="Post the notice").click()
    page.wait_for_url(re.compile(r"saved=1"))
    assert "Kept Name" in main_text(page)


def test_session_idle_expiry(state: State, site: Site) -> None:
    short = Site(root=site.root, env={**site.env, "ARX_PORTAL_IDLE_TIMEOUT_SECONDS": "2",
                                      "ARX_PORTAL_REQUIRE_TOTP": "false"})
    server = Server(short).start()
    try:
        page = new_page(state, server.url)
        page.goto("/login")
        page.get_by_label("Username").fill("icc_aud")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/notices"))
        page.goto("/account")
        assert page.url.endswith("/account")
        time.sleep(3)
        page.goto("/account")
        assert "/login?expired=1" in page.url
        assert "Your session has ended" in main_text(page)
    finally:
        server.stop()


def test_axe_checked_every_page_and_the_csp_refused_nothing(state: State) -> None:
    assert PAGES - state.checked == set()
    assert state.console_errors == []
