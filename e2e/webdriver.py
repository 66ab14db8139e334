"""A headless Chromium for the dashboard's browser tests (Selenium + Debian's chromium and chromium-driver).

`driver` is a selenium Chrome with a few helpers the tests share: waiting for a CSS selector, sizing the viewport
exactly, emulating `prefers-color-scheme`, handing the browser's cookies to `requests` (to download exports), and
saving screenshots. A missing chromium is a failure, not a skip: scripts/install-deps installs it.
When a test fails, its last page, a screenshot and the browser console go to $TALLY_E2E_ARTIFACTS
(default /tmp/tally-e2e-artifacts) to read afterwards.
"""
import json
import os
import re
import struct
import urllib.parse

import pytest
import requests
from selenium import webdriver as _selenium
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TALLY_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = os.environ.get("TALLY_E2E_ARTIFACTS", "/tmp/tally-e2e-artifacts")
WIDTH, HEIGHT = 1280, 900


class Driver(_selenium.Chrome):
    """selenium's Chrome plus the dashboard tests' helpers."""

    # -- waiting

    def wait_for(self, condition, timeout=10, message=""):
        """Wait until `condition(driver)` is truthy and return its value. An element that goes stale or missing
        while a page replaces the last one only means "not yet": the condition is asked again."""
        try:
            return WebDriverWait(self, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                                 ).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or condition} "
                                 f"(at {self.current_url})") from None

    def wait_css(self, css, timeout=10, visible=False):
        """Wait until an element matches `css` (and is displayed, when `visible`); return the first one."""
        def found(d):
            for el in d.find_elements(By.CSS_SELECTOR, css):
                if not visible or el.is_displayed():
                    return el
            return None
        return self.wait_for(found, timeout, f"{'a visible ' if visible else ''}{css!r}")

    def wait_path(self, path, timeout=10):
        """Wait until the current URL's path is `path`."""
        self.wait_for(lambda d: urllib.parse.urlsplit(d.current_url).path == path, timeout, f"the path {path}")
        self.wait_for(lambda d: d.execute_script("return document.readyState") == "complete", timeout,
                      "the page to load")

    def css(self, css):
        """The first element matching `css` (an AssertionError naming it when there is none)."""
        found = self.find_elements(By.CSS_SELECTOR, css)
        if not found:
            raise AssertionError(f"no element matches {css!r} at {self.current_url}")
        return found[0]

    def css_all(self, css):
        return self.find_elements(By.CSS_SELECTOR, css)

    # -- the viewport and media

    def set_viewport(self, width=WIDTH, height=HEIGHT, mobile=False):
        """Make the viewport exactly width x height CSS pixels at device scale 1. With `mobile` chromium also
        emulates a phone (the layout viewport then follows the page's `<meta name=viewport>`)."""
        self.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        if not mobile:
            got = self.execute_script("return [window.innerWidth, window.innerHeight]")
            assert got == [width, height], f"asked for a {width}x{height} viewport, the page has {got}"

    def set_window_size(self, width, height, windowHandle="current"):  # noqa: N803 (selenium's signature)
        """Size the window and the viewport (headless chromium's window and viewport can differ)."""
        super().set_window_size(width, height, windowHandle)
        self.set_viewport(width, height)

    def emulate_color_scheme(self, scheme):
        """`prefers-color-scheme: light|dark` for this tab from now on (None: the default)."""
        features = [{"name": "prefers-color-scheme", "value": scheme}] if scheme else []
        self.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": features})
        if scheme:
            assert self.execute_script(f"return matchMedia('(prefers-color-scheme: {scheme})').matches"), scheme

    # -- cookies, screenshots, logs

    def requests_session(self):
        """A requests.Session carrying this browser's cookies (for downloads the browser would make)."""
        s = requests.Session()
        for c in self.get_cookies():
            s.cookies.set(c["name"], c["value"], path=c.get("path", "/"))
        return s

    def save_screenshot_png(self, path):
        """Save what the viewport shows as a PNG at `path` (directories made); return its (width, height)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        data = self.get_screenshot_as_png()
        with open(path, "wb") as f:
            f.write(data)
        return png_size(data)

    def console(self):
        """The browser console since the last call: [(level, message)]."""
        try:
            return [(e.get("level"), e.get("message")) for e in self.get_log("browser")]
        except WebDriverException:
            return []

    def js_errors(self):
        return [m for level, m in self.console() if level == "SEVERE"]


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def new_driver():
    for what, path, package in (("chromium", CHROMIUM, "chromium"), ("chromedriver", CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.fail(f"{what} is not installed at {path} (Debian package {package}); the dashboard's browser "
                        f"tests need it: run scripts/install-deps", pytrace=False)
    options = _selenium.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}",
                "--force-device-scale-factor=1", "--hide-scrollbars", "--lang=en-US", "--disable-gpu", "--no-first-run",
                "--disable-search-engine-choice-screen", "--password-store=basic"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = Driver(options=options, service=Service(CHROMEDRIVER))
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    d.set_viewport(WIDTH, HEIGHT)
    return d


def _dump(d, name):
    """What the page was when a test failed: HTML, a screenshot, the console."""
    try:
        os.makedirs(ARTIFACTS, exist_ok=True)
        base = os.path.join(ARTIFACTS, re.sub(r"[^\w.-]+", "_", name))
        with open(base + ".html", "w") as f:
            f.write(f"<!-- {d.current_url} -->\n" + d.page_source)
        d.save_screenshot(base + ".png")
        with open(base + ".console.json", "w") as f:
            json.dump(d.console(), f, indent=1)
    except Exception:  # noqa: BLE001 - a dead browser must not hide the test's own failure
        pass


@pytest.fixture
def driver(request):
    """A fresh headless chromium (1280x900, no cookies) for one test; quit at teardown."""
    d = new_driver()
    failed_before = request.session.testsfailed
    yield d
    try:
        if request.session.testsfailed > failed_before:
            _dump(d, request.node.nodeid)
    finally:
        d.quit()
