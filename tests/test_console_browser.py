"""The console end to end in a real headless browser: Debian's Chromium driven by Selenium,
against `greeter console` started as staff start it.

Sign in, enrol a photo, find the person in the list, set a greeting with ``{nmae}`` and read
the problem, fix it, read the warning about characters the screen cannot draw, remove the
person; a screenshot of each page at a phone's 360 px width goes to ``$CONSOLE_SCREENSHOTS``
(the README's come from ``CONSOLE_SCREENSHOTS=docs/console``), else to the test's temporary
folder. On a shared store (a throwaway PostgreSQL server): the Robots page lists the robots
that published a status, and a door request goes to the robot chosen on the Enrol page.

Skipped, with the reason, where Chromium, its driver or Selenium are missing (scripts/
bootstrap.sh installs them when run as root); under CI (``CI=true``) that is a failure.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import REPO
from console_helpers import PASSWORD, free_port, running_console

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE_WIDTH = 360


def _require_browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if missing:
        reason = (f"no headless browser: {', '.join(missing)} missing (scripts/bootstrap.sh "
                  "installs Debian's chromium and chromium-driver when run as root)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)


@pytest.fixture
def console_url(tmp_path):
    with running_console(tmp_path) as (url, _):
        yield url


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}",
                     f"--window-size={PHONE_WIDTH},740"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(30)  # enrolment loads the face models on first use
    yield driver
    driver.quit()


def wait_for_page(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _screenshot(driver, folder: Path, name: str) -> None:
    """The whole page in a window 360 px wide, as tall as the page."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = driver.execute_script("return window.outerHeight - window.innerHeight")
    driver.set_window_size(PHONE_WIDTH, 640 + int(frame))  # shrink first: pages only grow
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(PHONE_WIDTH, max(640, min(int(height), 2400)) + int(frame))
    driver.save_screenshot(str(folder / f"{name}.png"))


def test_staff_journey_in_a_real_browser(console_url, browser, samples, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    find = browser.find_element

    def submit(by, value):
        """Click a submit button and wait for the next page: Selenium's click returns before
        it loads, and under load the old page's elements were read (stale element)."""
        page = find(By.TAG_NAME, "html")
        find(by, value).click()
        WebDriverWait(browser, 60).until(expected_conditions.staleness_of(page))

    browser.get(f"{console_url}/people")
    assert "/login" in browser.current_url
    find(By.ID, "password").send_keys(PASSWORD)
    _screenshot(browser, shots, "1-sign-in")
    submit(By.CSS_SELECTOR, "form button[type=submit]")
    assert find(By.TAG_NAME, "h1").text.startswith("People")

    browser.get(f"{console_url}/enrol")
    find(By.ID, "person_id").send_keys("barack")
    find(By.ID, "name").send_keys("Barack Obama")
    find(By.ID, "photos").send_keys(str(samples / "obama.jpg"))
    _screenshot(browser, shots, "2-enrol")
    submit(By.CSS_SELECTOR, "#enrol-form button[type=submit]")
    outcomes = find(By.ID, "outcomes").text
    assert "1 enrolled, 0 skipped, 0 rejected" in outcomes
    assert "obama.jpg: enrolled" in outcomes
    _screenshot(browser, shots, "3-enrolled")

    browser.get(f"{console_url}/people")
    find(By.NAME, "q").send_keys("obama")
    submit(By.CSS_SELECTOR, "form.search button")
    people = find(By.ID, "people").text
    assert "Barack Obama" in people and "one photo: add 1-2 more photos" in people
    _screenshot(browser, shots, "4-people")
    submit(By.LINK_TEXT, "Barack Obama")
    _screenshot(browser, shots, "5-person")

    browser.get(f"{console_url}/greetings/people/barack")
    messages = find(By.ID, "messages")
    messages.clear()
    messages.send_keys("Welcome back, {nmae}!")
    submit(By.ID, "save-greeting")
    problem = find(By.CSS_SELECTOR, "[data-problems]").text
    assert "Message 1: unknown placeholder {nmae}" in problem
    _screenshot(browser, shots, "6-greeting-problem")
    messages = find(By.ID, "messages")
    messages.clear()
    messages.send_keys("Welcome back, {first_name}!")
    # the page's own script previews while typing, within the Content-Security-Policy
    WebDriverWait(browser, 30).until(
        lambda driver: find(By.ID, "preview").text == "Welcome back, Barack!")
    assert not find(By.CSS_SELECTOR, "[data-problems]").is_displayed()
    submit(By.ID, "save-greeting")
    assert "saved barack's greeting" in find(By.CLASS_NAME, "flash").text
    assert find(By.ID, "preview").text == "Welcome back, Barack!"
    _screenshot(browser, shots, "7-greeting")
    # characters no font of the screen has: a warning while typing and after saving, which
    # does not stop the save
    messages = find(By.ID, "messages")
    messages.clear()
    messages.send_keys("Welcome back, {first_name}! नमस्ते")
    warnings = find(By.CSS_SELECTOR, "[data-warnings]")
    WebDriverWait(browser, 30).until(lambda driver: warnings.is_displayed())
    assert "the screen cannot draw 'न' (U+0928), 'म' (U+092E)" in warnings.text
    assert not find(By.CSS_SELECTOR, "[data-problems]").is_displayed()
    submit(By.ID, "save-greeting")
    assert "saved barack's greeting" in find(By.CLASS_NAME, "flash").text
    assert ("Message 1: the screen cannot draw 'न'"
            in find(By.CSS_SELECTOR, "[data-warnings]").text)

    browser.get(f"{console_url}/people/barack/remove")
    _screenshot(browser, shots, "8-remove")
    submit(By.ID, "confirm-remove")
    assert "removed barack and their 1 photo" in find(By.CLASS_NAME, "flash").text
    assert "Barack Obama" not in find(By.TAG_NAME, "main").text

    for page, name in (("/greetings", "9-greetings"), ("/bundles", "10-bundles"),
                       ("/status", "11-status")):
        browser.get(f"{console_url}{page}")
        _screenshot(browser, shots, name)
    problems = [entry["message"] for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE" and "422" not in entry["message"]]
    assert not problems, problems  # no script error, no resource refused or missing


def test_a_fleets_robots_and_a_door_request_to_one_of_them_in_a_real_browser(
        server_address, browser, tmp_path):
    """A console on a shared store, two robots' statuses published on the server (as their
    status outputs publish them): the Robots page lists both, and enrolling at the door
    addresses the request to the robot chosen on the Enrol page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from greeter.live.status import RobotStatus
    from greeter.people.door import pending
    from greeter.people.store import open_store

    local = tmp_path / "console"
    env = dict(os.environ, GREETER_STORE=server_address, GREETER_LOCAL=str(local),
               PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "greeter", "console", "set-password"],
                   input=f"{PASSWORD}\n{PASSWORD}\n", env=env, text=True, check=True,
                   capture_output=True)
    with open_store(server_address, local) as store:
        now = datetime.now(timezone.utc)
        store.publish_status("north-door", RobotStatus(
            written=now, pid=1, fps=29.5, detection_rate=8.0, memory_level="normal",
            camera="ok").model_dump_json(exclude_none=True))
        store.publish_status("south-door", RobotStatus(
            written=now, pid=2, fps=0.0, detection_rate=0.0, memory_level="normal",
            camera="lost", store_problem="cannot reach the store's server").model_dump_json(
                exclude_none=True))
        port = free_port()
        with open(tmp_path / "console.log", "wb") as log:
            console = subprocess.Popen([sys.executable, "-m", "greeter", "console", "--listen",
                                        f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_page(url)
            find = browser.find_element
            browser.get(f"{url}/robots")
            find(By.ID, "password").send_keys(PASSWORD)
            find(By.CSS_SELECTOR, "form button[type=submit]").click()
            rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table tr")[1:]]
            assert rows[0].startswith("north-door running ok 29.5 ok"), rows
            assert rows[1].startswith("south-door running lost 0.0 cannot reach"), rows

            browser.get(f"{url}/enrol")
            assert [option.text for option in Select(find(By.ID, "door_robot")).options] == [
                "north-door", "south-door"]
            find(By.ID, "door_person_id").send_keys("alex-m")
            find(By.ID, "door_name").send_keys("Alex Müller")
            Select(find(By.ID, "door_robot")).select_by_visible_text("south-door")
            find(By.CSS_SELECTOR, "#door-form button[type=submit]").click()
            assert "south-door" in find(By.TAG_NAME, "h1").text
            assert pending(store.door("south-door"), "alex-m").name == "Alex Müller"
            assert pending(store.door("north-door"), "alex-m") is None
        finally:
            console.terminate()
            console.wait(timeout=30)
