"""Browser tests drive Debian's Chromium through Playwright against a live Django server (or the daphne
process of `csms_server`), logged into the admin as a support user.

Locally they skip when Chromium is missing; under CI (CI=true) a missing browser fails the run instead.
"""

import os
import shutil
from pathlib import Path

import pytest

from accounts.models import Membership
from tests.accounts.factories import MembershipFactory, OperatorFactory, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SUPPORT_PASSWORD = "Laddstolpe-2026!"
#: Where screenshots for people go (CI keeps the folder; docs/screenshots is refreshed from it by hand).
SCREENSHOTS = Path(os.environ.get("CSMS_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "artifacts/screenshots")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path():
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but no Chromium at {CHROMIUM}: browser tests must run in CI.")
        pytest.skip(f"No Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped locally.")
    return CHROMIUM


@pytest.fixture
def page(chromium_path):
    # Playwright's sync API runs an event loop in this thread, so the ORM refuses to run while a page is open:
    # tests request their data fixtures before this one and do no queries in the body.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture
def support_user(transactional_db, settings):
    """Sara Support, a staff member of the operator with the operator-support role and password SUPPORT_PASSWORD."""
    # PBKDF2, so that a server in its own process (csms_server) can check it too: the tests' fast MD5 hasher is
    # configured only in this process.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = UserFactory(email="support@example.com", first_name="Sara", last_name="Support", is_staff=True,
                       password=SUPPORT_PASSWORD)
    MembershipFactory(user=user, organization=OperatorFactory(), role=Membership.Role.OPERATOR_SUPPORT)
    return user


def log_in(page, base_url: str, email: str, password: str, next_path: str = "/admin/") -> None:
    """Log into the admin at ``base_url`` and wait until it has redirected to ``next_path``."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def screenshot(page, name: str) -> Path:
    """Save the whole page as SCREENSHOTS/<name>.png for people to look at (CI artifacts, the user guides)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
