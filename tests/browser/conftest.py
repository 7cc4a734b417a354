"""Fixtures for the browser tests: a local HTTP server and the system Chromium.

Chromium comes from the operating system (``apt-get install chromium``); Playwright
drives it. ``playwright install`` is never used. In CI (``CI=true``) a missing Chromium
is an error; elsewhere the tests are skipped with a loud message.
"""

from __future__ import annotations

import os

import pytest

from _ext.book_pdf import BUILD, CHROMIUM_ARGS, INSTALL_HINT, BookServer, find_chromium


@pytest.fixture(scope="session")
def book_server():
    if not (BUILD / "index.html").is_file():
        pytest.fail("the book is not built: run `make book` first")
    server = BookServer(BUILD)
    yield server
    server.close()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        message = f"Chromium not found, browser tests cannot run. Install it with: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip("\n" + "!" * 78 + f"\n!! SKIPPED: {message}\n" + "!" * 78)
    return path


@pytest.fixture(scope="session")
def browser_context(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        context = browser.new_context()
        # The theme reads its light/dark mode from storage; seed it as a returning visitor has it.
        context.add_init_script("try { localStorage.setItem('mode', 'light'); } catch (e) {}")
        yield context
        context.close()
        browser.close()


def pytest_terminal_summary(terminalreporter):
    if find_chromium() is None:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED: Chromium is missing", red=True, bold=True)
        terminalreporter.write_line(f"Install it with: {INSTALL_HINT}")
