"""Headless Chromium (Debian's package, driven by Playwright) and a real `oidcgate cp` to point it at."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.processes import OIDCGATE, Proc, free_port, start

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

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.admin, headers={"Kong-Admin-Token": ADMIN_TOKEN}, timeout=10)


def gen_cert(prefix: Path) -> tuple[Path, Path]:
    cert, key = prefix / "cluster.crt", prefix / "cluster.key"
    subprocess.run([*OIDCGATE, "cluster", "gen-cert", "--cert", str(cert), "--key", str(key)], check=True,
                   capture_output=True, timeout=60)
    return cert, key


@contextlib.contextmanager
def control_plane(prefix: Path) -> Iterator[ControlPlane]:
    """`oidcgate cp` with an admin token, the GUI and hybrid mode on, on free loopback ports."""
    cert, key = gen_cert(prefix)
    admin, gui, cluster = free_port(), free_port(), free_port()
    proc = start(["cp", "--prefix", str(prefix), "--admin-listen", f"127.0.0.1:{admin}",
                  "--gui-listen", f"127.0.0.1:{gui}", "--cluster-listen", f"127.0.0.1:{cluster}",
                  "--cluster-cert", str(cert), "--cluster-key", str(key)],
                 prefix / "cp.log", wait_ports=[admin, gui, cluster], env={"OIDCGATE_ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        yield ControlPlane(proc, f"http://127.0.0.1:{gui}", f"http://127.0.0.1:{admin}", f"127.0.0.1:{cluster}")
    finally:
        proc.stop()


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, gui: str) -> None:
    page.goto(gui + "/")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(gui + "/")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save docs/screenshots/NAME.png (committed: the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide")
    return path
