"""Fixtures for the browser tests: a local HTTP server and the system Chromium.

Chromium comes from the operating system (``apt-get install chromium``); Playwright
drives it. ``playwright install`` is never used. In CI (``CI=true``) a missing Chromium
is an error; elsewhere the tests are skipped with a loud message.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BUILD = Path(__file__).resolve().parents[2] / "_build" / "html"
INSTALL_HINT = "sudo apt-get install chromium   (Debian/Ubuntu; or set CHROMIUM=/path/to/chrome)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def find_chromium() -> str | None:
    """Return the path of a system Chromium, or None."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class BookServer:
    """Serve ``_build/html`` on 127.0.0.1 at a free port, in a thread."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
