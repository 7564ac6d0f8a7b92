"""Screenshots of the ``midnet serve`` page for docs/facilities.md, made by driving the real page.

Starts a server in this process on the shipped model (PyTorch, fp32), opens the page in Debian's
headless Chromium through Playwright, drops the shipped sample micrograph and a copy of it, waits
for both to be restored, and saves the job list and the before/after viewer (zoomed in on detail).

    python scripts/serve_screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from midnet.server import ServerConfig
from midnet.server.live import live_server
from midnet.server.restoring import Restoration
from midnet.inference.settings import RestoreSettings


def shoot(page, url: str, sample: Path, out: Path) -> list[Path]:
    page.goto(url)
    page.set_input_files("#files", [str(sample), str(sample.with_name("second_" + sample.name))])
    page.wait_for_function("document.querySelectorAll('li.job[data-state=done]').length === 2", timeout=600_000)
    page.wait_for_timeout(500)
    shots = [out / "serve_page.png"]
    page.screenshot(path=str(shots[0]), clip={"x": 0, "y": 0, "width": 1200, "height": 560})
    page.locator("li.job .compare").first.click()
    page.wait_for_function("document.querySelector('#pane-a img.after').naturalWidth > 0")
    page.locator("[data-zoom=in]").click()
    page.locator("#split").fill("50")
    page.wait_for_timeout(300)
    shots.append(out / "serve_compare.png")
    page.locator("#viewer").screenshot(path=str(shots[1]))
    return shots


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    restoration = Restoration(RestoreSettings.exact())
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        tmp = Path(tmp)
        with resources.as_file(resources.files("midnet") / "samples" / "sem_blurry_sample.png") as sample:
            shutil.copy(sample, tmp / "sem_sample.png")
            shutil.copy(sample, tmp / "second_sem_sample.png")
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        with live_server(ServerConfig(data=tmp / "data"), restoration) as live:
            for shot in shoot(page, live.url, tmp / "sem_sample.png", args.out):
                print(f"wrote {shot}")
        browser.close()


if __name__ == "__main__":
    main()
