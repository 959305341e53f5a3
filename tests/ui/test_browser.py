"""The web viewer in a real Chromium (Debian's, driven by Playwright) against a seeded twin.

The tests run in order on one page: the trame state is shared, so each step starts where the
previous one left the viewer, as an operator's session would.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.render
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Headless Chromium as root (RECIPES.md); no GPU, no background traffic.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def page(seeded_twin: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail("Chromium is not installed: run ./scripts/test, or apt-get install chromium")
    # Playwright gives every launch a fresh temporary profile (RECIPES' --user-data-dir).
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=WAIT_MS)
        try:
            tab = browser.new_page(viewport={"width": 1600, "height": 900})
            tab.set_default_timeout(WAIT_MS)
            # As an ops screen opens it: the token once in the address, then a cookie.
            tab.goto(f"{seeded_twin.api}/viewer?token={seeded_twin.token}", timeout=WAIT_MS)
            yield tab
        finally:
            browser.close()


def canvas(page: Any) -> np.ndarray:
    png = page.locator("#model-view canvas").first.screenshot(timeout=WAIT_MS)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def coloured(img: np.ndarray) -> np.ndarray:
    """Pixels with colour (not the white page, the grey no-data surface or black edges)."""
    return (img.max(axis=2) - img.min(axis=2)) > 40


def warmth(img: np.ndarray) -> float:
    """Mean red minus blue of the coloured pixels: coolwarm's warm end is positive."""
    mask = coloured(img)
    return float((img[..., 0] - img[..., 2])[mask].mean()) if mask.any() else 0.0


def until(check: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)


def caption(page: Any) -> str:
    return str(page.locator("#frame-caption").inner_text(timeout=WAIT_MS))


def caption_time(page: Any) -> float | None:
    """The moment the caption shows, epoch seconds."""
    found = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", caption(page))
    if found is None:
        return None
    moment = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return moment.timestamp()


def shows_moment(page: Any, expected: float, tolerance_s: float = 300.0) -> bool:
    shown = caption_time(page)
    return shown is not None and abs(shown - expected) <= tolerance_s


def choose(page: Any, select_id: str, option: str) -> None:
    page.locator(".v-select", has=page.locator(f"#{select_id}")).click()
    page.locator(".v-overlay .v-list-item", has_text=option).click()


def test_page_loads_with_the_building_coloured_by_temperature(page: Any) -> None:
    until(lambda: "Temperature" in caption(page), "the temperature caption")
    assert "Nanjing Building" in caption(page)
    # 30 °C now: the facades read warm on coolwarm, over a large part of the view.
    until(lambda: warmth(canvas(page)) > 30, "a warm-coloured building")
    assert coloured(canvas(page)).mean() > 0.05  # the building, not a few markers


def test_switching_metric_changes_the_colours(page: Any) -> None:
    before = canvas(page)
    choose(page, "metric-select", "Noise LAeq")
    until(lambda: "Noise LAeq" in caption(page), "the noise caption")

    def changed() -> bool:
        after = canvas(page)
        return bool((np.abs(after - before).sum(axis=2) > 60).mean() > 0.02)

    until(changed, "the colours to change after switching metric")
    choose(page, "metric-select", "Temperature")
    until(lambda: "Temperature" in caption(page) and warmth(canvas(page)) > 30, "warm again")


def test_time_slider_goes_back_to_the_past_state(page: Any, seeded_twin: Any) -> None:
    page.locator("#mode-replay").click()
    page.locator("#replay-bar").wait_for(timeout=WAIT_MS)
    hours = page.get_by_label("Hours back")
    hours.fill("2")
    hours.press("Enter")
    hours.blur()
    thumb = page.locator(".time-slider .v-slider-thumb")
    thumb.focus()
    thumb.press("Home")  # the start of the replayed two hours: 10 °C everywhere
    # The replay starts two hours before the moment it was loaded, a little after seeding.
    start = seeded_twin.started_at - 2 * 3600
    until(lambda: shows_moment(page, start), "the caption at the replay's start")
    until(lambda: warmth(canvas(page)) < -30, "the cold (blue) colours of two hours ago")
    thumb.press("End")
    until(lambda: warmth(canvas(page)) > 30, "the warm colours of now at the slider's end")
    # Every alert that opened in the period is one choice away.
    choose(page, "alert-jump", seeded_twin.data.ALERT_SENSOR)
    opened = seeded_twin.started_at - 1800  # seeded a few seconds after started_at
    until(lambda: shows_moment(page, opened, 120.0), "the chosen alert's start")


def test_alert_shows_in_the_list_and_replays_from_its_start(page: Any, seeded_twin: Any) -> None:
    page.locator("#mode-live").click()
    alert_list = page.locator("#alert-list")
    until(lambda: seeded_twin.data.ALERT_SENSOR in alert_list.inner_text(), "the alert")
    assert "ALARM" in alert_list.inner_text()
    assert "GB 3096-2008" in alert_list.inner_text()
    page.locator(".jump-to-alert").first.click()
    opened = seeded_twin.started_at - 1800  # seeded a few seconds after started_at
    until(lambda: shows_moment(page, opened, 120.0), "the alert's start")
    info = page.locator("#sensor-info")
    until(lambda: "south-facade" in info.inner_text(), "the picked sensor's panel")
    assert "laeq" in info.inner_text()
    assert page.locator("#sensor-info svg polyline").count() >= 1  # the 24 h chart


def test_clicking_a_marker_picks_its_sensor(page: Any, seeded_twin: Any) -> None:
    from scipy import ndimage

    page.locator("#mode-live").click()
    until(lambda: "Temperature" in caption(page) and warmth(canvas(page)) > 30, "live colours")
    info = page.locator("#sensor-info")
    before = info.inner_text() if info.count() else ""
    assert seeded_twin.data.ALERT_SENSOR in before  # picked by the previous step
    img = canvas(page)
    # Green is only on "ok" markers: the temperature scale runs blue to red.
    green = (img[..., 1] > 110) & (img[..., 0] < 90) & (img[..., 2] < 110)
    # Only the model: the state chips (bottom left) and the legend (right) are green too.
    h, w = green.shape
    green[: h // 10] = green[-h // 6 :] = False
    green[:, : w // 10] = green[:, -w // 4 :] = False
    labels, n = ndimage.label(green)
    assert n >= 5, "too few ok markers in view"
    sizes = ndimage.sum(green, labels, range(1, n + 1))
    row, col = ndimage.center_of_mass(green, labels, int(np.argmax(sizes)) + 1)
    box = page.locator("#model-view canvas").first.bounding_box()
    assert box is not None
    scale = box["width"] / img.shape[1]  # screenshot pixels to CSS pixels
    page.mouse.click(box["x"] + col * scale, box["y"] + row * scale)

    def picked_another() -> bool:
        text = info.inner_text() if info.count() else ""
        return seeded_twin.data.ALERT_SENSOR not in text and " · ok" in text

    until(picked_another, "the clicked ok sensor in the sensor panel")
