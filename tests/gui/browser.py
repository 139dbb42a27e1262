"""Headless Chromium (Debian's package, driven by Playwright) and a real `oidcgate cp` to point it at."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.cluster.topology import ClusterFiles, cluster_files
from tests.support.processes import Proc, free_port, start

CHROMIUM = os.environ.get("OIDCGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1366, "height": 820}  # a laptop screen
ADMIN_TOKEN = "browser-test-admin-token"


@dataclass
class ControlPlane:
    proc: Proc
    gui: str
    admin: str
    cluster: str
    files: ClusterFiles

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.admin, headers={"Kong-Admin-Token": ADMIN_TOKEN}, timeout=10)


@contextlib.contextmanager
def control_plane(prefix: Path) -> Iterator[ControlPlane]:
    """`oidcgate cp` with an admin token, the GUI and hybrid mode on, on free loopback ports."""
    files = cluster_files(prefix)
    admin, gui, cluster = free_port(), free_port(), free_port()
    proc = start(["cp", "--prefix", str(prefix), "--admin-listen", f"127.0.0.1:{admin}",
                  "--gui-listen", f"127.0.0.1:{gui}", "--cluster-listen", f"127.0.0.1:{cluster}",
                  "--cluster-cert", files.cert, "--cluster-key", files.key],
                 prefix / "cp.log", wait_ports=[admin, gui, cluster], env={"OIDCGATE_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        yield ControlPlane(proc, f"http://127.0.0.1:{gui}", f"http://127.0.0.1:{admin}", f"127.0.0.1:{cluster}",
                           files)
    finally:
        proc.stop()


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args],
                                             timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, gui: str) -> None:
    page.goto(gui + "/")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(gui + "/")


def field(page: Page, label: str) -> Locator:
    """The input labelled `label` (a required field's label ends in a `*` hidden from screen readers)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}\*?$"))


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save docs/screenshots/NAME.png (committed: the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
