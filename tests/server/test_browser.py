"""The page as users use it, in a real headless Chromium (Debian's, driven by Playwright).

Skipped only where no Chromium exists; CI sets MIDNET_REQUIRE_BROWSER=1, which turns that
skip into a failure, so these tests cannot pass there by not running.
"""

from __future__ import annotations

import base64
import os
import shutil

import numpy as np
import pytest

from .conftest import deblur_bytes, micrograph, pil_bytes, tiff_bytes

pytestmark = pytest.mark.browser
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str:
    found = os.environ.get("MIDNET_CHROMIUM") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        why = "no Chromium (apt-get install chromium) or no Playwright (pip install playwright)"
        if os.environ.get("MIDNET_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MIDNET_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def live(tmp_path, wiener, request):
    from midnet.server import ServerConfig
    from midnet.server.live import live_server

    paused = request.node.get_closest_marker("paused") is not None
    with live_server(ServerConfig(data=tmp_path / "data"), wiener, start_worker=not paused) as running:
        yield running


def _page(browser, live):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(live.url)
    page.wait_for_selector("#status:not(:text('connecting'))")
    return page


def _files(tmp_path, **named) -> list[str]:
    paths = []
    for name, content in named.items():
        path = tmp_path / name.replace("_", ".")
        path.write_bytes(content)
        paths.append(str(path))
    return paths


def test_upload_progress_compare_and_download(browser, live, tmp_path):
    from playwright.sync_api import expect

    content = tiff_bytes(micrograph(160, seed=5))
    page = _page(browser, live)
    page.set_input_files("#files", _files(tmp_path, scan_tif=content, other_png=pil_bytes(micrograph(64, dtype=np.uint8), "PNG")))
    card = page.locator("li.job[data-name='scan.tif']")
    expect(card.locator(".score .badge")).to_have_text(
        __import__("re").compile("sharp|worth restoring|too blurred|uncertain"))
    expect(card).to_have_attribute("data-state", "done")
    expect(card.locator(".state")).to_have_text("restored")
    expect(card.locator(".cancel")).to_be_hidden()  # nothing left to cancel
    expect(page.locator("li.job[data-name='other.png']")).to_have_attribute("data-state", "done")

    card.locator(".compare").click()
    after = page.locator("#pane-a img.after")
    page.wait_for_function("document.querySelector('#pane-a img.after').naturalWidth === 160")
    middle = after.evaluate("img => img.style.clipPath")
    page.locator("#split").fill("60")  # the slider moves the cut between before and after
    moved = after.evaluate("img => img.style.clipPath")
    assert middle.startswith("inset(0px 0px 0px ") and moved.startswith("inset(0px 0px 0px ") and moved != middle
    before_zoom = page.locator("#zoom-level").inner_text()
    page.locator("[data-zoom=in]").click()
    assert page.locator("#zoom-level").inner_text() != before_zoom
    page.locator("input[value=side]").check()
    expect(page.locator("#pane-b img.after")).to_be_visible()

    with page.expect_download() as download:
        card.locator(".download").click()
    assert download.value.suggested_filename == "scan_restored.tif"
    assert open(download.value.path(), "rb").read() == deblur_bytes(tmp_path, "scan.tif", content, "--method", "wiener")


def test_files_dropped_on_the_page_are_uploaded(browser, live):
    from playwright.sync_api import expect

    page = _page(browser, live)
    data = base64.b64encode(pil_bytes(micrograph(96, dtype=np.uint8), "PNG")).decode()
    page.evaluate("""data => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        document.querySelector("#drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
    }""", data)
    expect(page.locator("li.job[data-name='dropped.png']")).to_have_attribute("data-state", "done")


def test_a_bad_file_gets_a_clear_message_and_the_rest_goes_on(browser, live, tmp_path):
    from playwright.sync_api import expect

    page = _page(browser, live)
    page.set_input_files("#files", _files(tmp_path, broken_tif=b"II*\x00 not really a TIFF",
                                          good_png=pil_bytes(micrograph(96, dtype=np.uint8), "PNG")))
    broken = page.locator("li.job[data-name='broken.tif']")
    expect(broken).to_have_attribute("data-state", "rejected")
    expect(broken.locator(".state")).to_contain_text("rejected: broken.tif: cannot decode image")
    expect(page.locator("li.job[data-name='good.png']")).to_have_attribute("data-state", "done")


@pytest.mark.paused
def test_two_users_at_once_each_see_their_place_and_only_their_files(browser, live, tmp_path):
    from playwright.sync_api import expect

    alice, bob = _page(browser, live), _page(browser, live)  # two contexts: two browsers' storage
    alice.set_input_files("#files", _files(tmp_path, alice_png=pil_bytes(micrograph(96, seed=1, dtype=np.uint8), "PNG")))
    expect(alice.locator("li.job[data-name='alice.png']")).to_have_attribute("data-state", "queued")
    bob.set_input_files("#files", _files(tmp_path, bob_png=pil_bytes(micrograph(96, seed=2, dtype=np.uint8), "PNG")))
    expect(bob.locator("li.job[data-name='bob.png'] .state")).to_have_text("busy: 1 ahead of you")
    expect(alice.locator("li.job[data-name='alice.png'] .state")).to_have_text("next in line")
    live.server.worker.start()
    expect(alice.locator("li.job[data-name='alice.png']")).to_have_attribute("data-state", "done")
    expect(bob.locator("li.job[data-name='bob.png']")).to_have_attribute("data-state", "done")
    assert alice.locator("li.job").count() == 1 and bob.locator("li.job").count() == 1
    with bob.expect_download() as download:
        bob.locator("#zip").click()
    import zipfile

    with zipfile.ZipFile(download.value.path()) as zf:
        assert zf.namelist() == ["bob_restored.png"]
