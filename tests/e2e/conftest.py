"""Browser tests: Debian's Chromium driven by Playwright against the app on a real server.

The app (the test session's, on the test backends) is served by a werkzeug server
thread on 127.0.0.1 and a free port. Each test page records console errors,
uncaught exceptions, Content-Security-Policy violations (a listener injected by
the test, not by the app) and any request to another host; the page fixture
fails the test on any of them. Tests skip only when /usr/bin/chromium is absent.
Never ``playwright install``: it downloads a browser, which this setup forbids.
"""
import os
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 800}
VIEWPORTS = {"phone": PHONE, "laptop": LAPTOP}

# Injected by the test into every document before the app's own scripts run.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__mustertest_csp && window.__mustertest_csp(
    e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@pytest.fixture(scope="session")
def chromium():
    """The browser binary, or a skip that says why (CI installs it, so CI never skips)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install -y chromium); it is not installed here")
    return CHROMIUM


class _ServerThread(threading.Thread):
    def __init__(self, app):
        super().__init__(daemon=True, name="e2e-server")
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port

    def run(self):
        self.server.serve_forever()


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of the app served for real on 127.0.0.1 (a free port)."""
    thread = _ServerThread(app)
    thread.start()
    yield f"http://127.0.0.1:{thread.port}"
    thread.server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def playwright_driver(chromium):
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver, chromium):
    """One Chromium for the session, in a fresh temporary profile Playwright creates and
    deletes; every page gets its own context, so a launch is paid once, not per page."""
    launched = playwright_driver.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Problems:
    console_errors: list = field(default_factory=list)
    page_errors: list = field(default_factory=list)
    csp_violations: list = field(default_factory=list)
    foreign_requests: list = field(default_factory=list)

    def all(self):
        return self.console_errors + self.page_errors + self.csp_violations + self.foreign_requests


@pytest.fixture
def open_browser(browser, live_server):
    """``open_browser(viewport)`` -> a Playwright page in a fresh browser context (its own
    cookies, storage and cache, like a separate profile), watched for problems.

    Each page gets ``page.problems`` and ``page.base_url``; at the end of the test
    any console error, page error, CSP violation or off-site request fails it.
    """
    opened = []

    def open_one(viewport=LAPTOP, locale="en-GB"):
        context = browser.new_context(viewport=viewport, locale=locale, service_workers="block")
        problems = Problems()
        local = urlsplit(live_server).netloc

        def route(route_request):
            if urlsplit(route_request.request.url).netloc != local:
                problems.foreign_requests.append(f"request to another host: {route_request.request.url}")
                return route_request.abort()
            return route_request.continue_()

        context.route("**/*", route)
        context.expose_function("__mustertest_csp", lambda report: problems.csp_violations.append(report))
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and problems.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: problems.page_errors.append(str(exc)))
        page.problems = problems
        page.base_url = live_server
        opened.append((context, problems))
        return page

    yield open_one
    found = []
    for context, problems in opened:
        context.close()
        found.extend(problems.all())
    assert not found, f"the browser reported problems: {found}"


PASSWORD = "Harbour-tinder-quartz-92-lilac"


@pytest.fixture
def enrolled_user(make_user):
    """Factory: an account that has chosen PASSWORD and set up an authenticator."""
    import pyotp

    from crm.extensions import db
    from crm.security.passwords import hash_password
    from crm.services import sessions

    def make(login, role="coordinator", clearance=True):
        user, _ = make_user(login, role=role, clearance=clearance)
        user.password_hash = hash_password(PASSWORD)
        user.must_change_password = False
        user.totp_secret = pyotp.random_base32()
        user.totp_enabled_at = sessions.now()
        db.session.commit()
        return user

    return make
