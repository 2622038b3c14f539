#!/usr/bin/python3
"""Drives headless Debian chromium (python3-selenium + chromium-driver) through bimd's dashboard.

Run by tests/dashboard/dashboard_test.cpp against a real bimd with deployed apps; exits 0 when every
check holds, else 1 with the failed check on stderr. Screenshots (PNG) of each page go to --shots.
It starts one chromedriver and one chromium, with a new empty profile dir, and stops exactly those
(driver.quit(), then the profile dir is removed), pass or fail; it also gives up after --budget s.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)
    print("ok: " + what, flush=True)


def text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def shoot(driver, shots, name, width=1280):
    """A PNG of the whole page (the window is resized to the page's height)."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(int(height) + 20, 400), 4000))
    time.sleep(0.2)
    path = os.path.join(shots, name + ".png")
    driver.save_screenshot(path)
    driver.set_window_size(1280, 900)
    print("screenshot: " + path, flush=True)


def http(url, method="GET", body=None, headers=None):
    """(status, headers, body) without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def log_in(driver, base, token):
    driver.get(base + "/ui/")
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/login"))
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    field.submit()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/"))


def log_out(driver):
    driver.find_element(By.CSS_SELECTOR, "form[action='/ui/logout'] button").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/login"))


def no_injected_script(driver, allowed):
    scripts = [s.get_attribute("src") for s in driver.find_elements(By.TAG_NAME, "script")]
    return scripts == allowed and driver.execute_script("return window.__bim_pwned === undefined")


def run(a, driver):
    base = a.url.rstrip("/")
    # Without a session every page leads to the login form; the API's bearer token is no cookie.
    status, headers, _ = http(base + "/ui/apps/" + a.app)
    check(status == 303 and headers.get("Location") == "/ui/login", "a page without a session redirects to /ui/login")
    status, headers, body = http(base + "/ui/login")
    csp = headers.get("Content-Security-Policy", "")
    check(status == 200 and "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp,
          "pages carry a strict Content-Security-Policy: " + csp)
    form = urllib.parse.urlencode({"token": a.admin}).encode()
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = http(base + "/ui/login", "POST", form, form_type)
    check(status == 403 and "Set-Cookie" not in headers, "a login POST without Origin is refused (CSRF)")
    status, headers, _ = http(base + "/ui/login", "POST", form, dict(form_type, Origin="http://evil.example"))
    check(status == 403 and "Set-Cookie" not in headers, "a login POST from another origin is refused (CSRF)")
    host = urllib.parse.urlparse(base).netloc
    status, headers, _ = http(base + "/ui/login", "POST", form, dict(form_type, Origin="http://" + host))
    cookie = headers.get("Set-Cookie", "")
    check(status == 303 and "HttpOnly" in cookie and "SameSite=Strict" in cookie and a.admin not in cookie,
          "a same-origin login sets an HttpOnly SameSite=Strict session cookie without the token: " + cookie.split("=")[0])
    bad = urllib.parse.urlencode({"token": "bim_" + "0" * 64}).encode()
    status, _, body = http(base + "/ui/login", "POST", bad, dict(form_type, Origin="http://" + host))
    check(status == 401 and "not valid" in body, "a wrong token is refused with a clear message")

    # The admin token: every app.
    log_in(driver, base, a.admin)
    page = text(driver)
    check(a.app in page and a.other in page, "the apps page lists both apps")
    check("failed" in page, "the apps page shows the last deploy's result")
    check(driver.execute_script("return document.cookie") == "", "the session cookie is not readable by script")
    check(no_injected_script(driver, []), "the apps page runs no script")
    shoot(driver, a.shots, "apps")
    driver.set_window_size(390, 844)
    driver.get(base + "/ui/")
    check(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
          "the apps page fits a phone's width (no sideways scrolling)")
    driver.save_screenshot(os.path.join(a.shots, "apps-phone.png"))
    driver.set_window_size(1280, 900)

    # One app, reached by its link.
    driver.get(base + "/ui/")
    driver.find_element(By.LINK_TEXT, a.app).click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/ui/apps/" + a.app))
    page = text(driver)
    check("Why v2 failed" in page and "did not become healthy" in page, "the app page shows the failed release's reason")
    check(a.hostile in page, "a hostile log line of the failed release is shown as text: " + a.hostile)
    check(no_injected_script(driver, []), "the hostile log line did not run or become markup")
    check(len(driver.find_elements(By.CSS_SELECTOR, "pre.log-tail b")) == 0, "no tag from app data became an element")
    check("GREETING" in page and a.secret not in page, "env keys are shown, their values never")
    check(len(driver.find_elements(By.CSS_SELECTOR, "figure.chart svg rect")) >= 6, "the release-time chart has bars")
    check("admin" in page and "deploy" in page, "releases show who made them and the audit log")
    shoot(driver, a.shots, "app")

    # Live logs: a line the app prints now shows up within 2 s.
    driver.find_element(By.PARTIAL_LINK_TEXT, "Live logs").click()
    WebDriverWait(driver, 10).until(lambda d: "Following" in d.find_element(By.ID, "log-status").text)
    marker = "dash-marker-%d <b>bold</b><script>window.__bim_pwned=1</script>" % int(time.time() * 1000)
    req = urllib.request.Request("http://127.0.0.1:%d/log?line=%s" % (a.http_port, urllib.parse.quote(marker)),
                                 headers={"Host": a.app + ".localhost"})
    start = time.monotonic()
    with urllib.request.urlopen(req, timeout=5) as r:
        check(r.status == 200, "the app printed a new log line")
    WebDriverWait(driver, 2, poll_frequency=0.05).until(
        lambda d: any(li.text == marker for li in d.find_elements(By.CSS_SELECTOR, "#log li")))
    print("figure: new log line on the page after %.0f ms" % ((time.monotonic() - start) * 1000), flush=True)
    check(True, "the new log line appeared on the live-logs page within 2 s, as text")
    check(no_injected_script(driver, [base + "/ui/assets/logs.js"]), "the live-logs page runs only logs.js")
    shoot(driver, a.shots, "logs")

    driver.get(base + "/ui/server")
    page = text(driver).lower()  # labels are shown in capitals (CSS)
    check("docker" in page and "nginx" in page and page.count("answering") >= 2 and "disk used by images" in page,
          "the server page shows Docker and nginx state and disk use")
    shoot(driver, a.shots, "server")
    log_out(driver)
    driver.get(base + "/ui/")
    check(driver.current_url.endswith("/ui/login"), "after logging out the pages ask to sign in again")

    # A token limited to one app sees only that app, also by direct URL.
    log_in(driver, base, a.scoped)
    page = text(driver)
    check(a.app in page and a.other not in page, "an app-scoped token's apps page lists only its app")
    for path in ["/ui/apps/" + a.other, "/ui/apps/" + a.other + "/logs", "/ui/apps/" + a.other + "/logs/events"]:
        driver.get(base + path)
        page = text(driver)
        check("403" in page or "permission_denied" in page, "an app-scoped token is refused " + path)
        check("Why" not in page and "Release" not in page, "nothing of the other app is shown at " + path)
    driver.get(base + "/ui/apps/" + a.app)
    check("Why v2 failed" in text(driver), "the app-scoped token sees its own app")
    driver.get(base + "/ui/apps/" + a.other)
    shoot(driver, a.shots, "scoped-refused")


def main():
    p = argparse.ArgumentParser()
    for name in ["url", "admin", "scoped", "app", "other", "hostile", "secret", "shots"]:
        p.add_argument("--" + name, required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--budget", type=int, default=70)
    a = p.parse_args()
    os.makedirs(a.shots, exist_ok=True)

    def out_of_time(*_):
        raise CheckFailed("the browser checks took longer than %d s" % a.budget)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(a.budget)

    profile = tempfile.mkdtemp(prefix="bim-dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for f in FLAGS + ["--user-data-dir=" + profile, "--window-size=1280,900"]:
        options.add_argument(f)
    driver = None
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        run(a, driver)
        print("all dashboard checks passed", flush=True)
        return 0
    except CheckFailed as e:
        print("FAILED: " + str(e), file=sys.stderr, flush=True)
    except Exception as e:  # a selenium timeout names no check: say where the browser was
        where = driver.current_url if driver else "(no browser)"
        print("FAILED: %s: %s at %s" % (type(e).__name__, e, where), file=sys.stderr, flush=True)
        if driver:
            print(text(driver)[:2000], file=sys.stderr)
    finally:
        signal.alarm(0)
        if driver:
            try:
                driver.save_screenshot(os.path.join(a.shots, "last.png"))
            except Exception:
                pass
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
