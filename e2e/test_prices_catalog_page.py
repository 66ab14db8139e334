"""Settings → Prices, the price catalog (issue 16), in a real browser: the revision in force, a pasted catalog file
previewed (its diff and impact drawn from POST /api/v1/prices/catalog with every value escaped: markup in a file stays
text), a malformed one refused naming its entry, and Apply putting the file in force."""
import json
import tempfile

import pytest
from selenium.webdriver.common.by import By

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AccountsTally
from test_prices_update import GPT4O, NEW_REVISION, built_in, candidate

HOSTILE = "<img src=x id=pwned>"


@pytest.fixture
def site():
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t.serve()
        t.stop_all()


def sign_in(driver, server):
    driver.get(server.url + "/login")
    form = driver.wait_css("input[name=password]").find_element(By.XPATH, "./ancestor::form")
    form.find_element(By.CSS_SELECTOR, "[name=email]").send_keys(ADMIN_EMAIL)
    form.find_element(By.CSS_SELECTOR, "[name=password]").send_keys(ADMIN_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    driver.wait_path("/")


def paste_and_preview(driver, doc):
    area = driver.wait_css("#catalog-document")
    # A whole catalog is ~100 KB: set it as a paste would, not key by key.
    driver.execute_script("arguments[0].value = arguments[1]", area, json.dumps(doc))
    driver.find_element(By.CSS_SELECTOR, "#catalog-update button[type=submit]").click()


def rows(driver):
    return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#catalog-rows tr")]


def test_preview_escapes_the_file_and_apply_puts_it_in_force(driver, site):
    sign_in(driver, site)
    driver.get(site.url + "/settings/prices")
    assert driver.wait_css("#catalog-revision").text.startswith(f"Revision in force: {built_in()['revision']}, built")

    bad = candidate(acme_input="one dollar")
    paste_and_preview(driver, bad)
    error = driver.wait_css("#catalog-update .form-error", visible=True).text
    assert f"entries[{len(built_in()['entries'])}].prices.input" in error
    assert 'entry "openai:acme-9:2026-01-01"' in error

    doc = candidate()
    doc["entries"][-1]["model"] = HOSTILE
    doc["entries"][-1]["id"] = f"openai:{HOSTILE}:2026-01-01"
    paste_and_preview(driver, doc)
    driver.wait_css("#catalog-diff", visible=True)
    assert rows(driver) == [
        ["added", f"openai:{HOSTILE}:2026-01-01", "", "", f"{HOSTILE} from 2026-01-01"],
        ["changed", GPT4O, "prices.input", "2.50", "5.00"],
    ]
    assert driver.find_elements(By.ID, "pwned") == []
    assert driver.find_element(By.ID, "catalog-impact").text == "A re-price would change 0 stored events."
    assert driver.find_element(By.ID, "catalog-summary").text.startswith(f"Revision {NEW_REVISION} (in force: ")

    # The session applies only with its CSRF token (the page's script sends it; a cross-site form cannot).
    forged = driver.requests_session().post(site.url + "/api/v1/prices/catalog?apply=true", data=json.dumps(doc),
                                            headers={"Content-Type": "application/json"}, timeout=30)
    assert forged.status_code == 403
    driver.execute_script("window.confirm = () => true")
    driver.find_element(By.ID, "apply-catalog").click()
    driver.wait_for(lambda d: d.find_element(By.ID, "catalog-summary").text.startswith("Applied revision"),
                    message="the catalog to be applied")
    shown = driver.requests_session().get(site.url + "/api/v1/prices/catalog", timeout=10).json()
    assert (shown["revision"], shown["source"]) == (NEW_REVISION, "stored")
    driver.get(site.url + "/settings/prices")
    assert driver.wait_css("#catalog-revision").text.startswith(f"Revision in force: {NEW_REVISION}, applied")
    assert driver.find_elements(By.ID, "pwned") == []
