"""The printable visit plan (``anbu review --html``) in real headless Chromium, Korean and English.

Screenshots: test-artifacts/review-ko.png and review-en.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from anbu.cli import build_app
from detectors.review import week_label, week_of
from tests.kit.review_rows import MONDAY, WEEKS, trip_week, weeks


def test_the_printable_plan_in_a_real_browser(
    tmp_path: Path, browser: Any, artifacts_dir: Path
) -> None:
    rows = sorted(
        weeks("hh-steady", 5)
        + weeks("hh-withdrawn", 1)
        + trip_week("hh-<trip>", door=True, sensors_heard=False),
        key=lambda r: r[0],
    )
    events = tmp_path / "events.csv"
    events.write_text(
        "timestamp,household_id,device_id,kind,value\n"
        + "".join(f"{t},{hid},{dev},{kind},{value}\n" for t, hid, dev, kind, value in rows)
    )
    week = week_label(week_of(MONDAY) + WEEKS - 1)
    context = browser.new_context(viewport={"width": 1100, "height": 500})
    page = context.new_page()
    texts = {}
    for lang in ("ko", "en"):
        html = tmp_path / f"plan-{lang}.html"
        argv = ["review", "--events", str(events), "--week", week, "--lang", lang,
                "--html", str(html)]
        result = CliRunner().invoke(build_app(argv), argv)
        assert result.exit_code == 0, result.output
        page.goto(html.as_uri())
        cells = page.locator("tbody tr").all_inner_texts()
        texts[lang] = (page.locator("h1").inner_text(), cells)
        # the row to visit is marked for the eye, the others are not
        colour = page.locator("tbody tr.visit td.verdict").evaluate(
            "e => getComputedStyle(e).color"
        )
        assert colour == "rgb(170, 51, 51)"
        assert page.locator("tbody tr.visit").count() == 1
        page.screenshot(path=str(artifacts_dir / f"review-{lang}.png"), full_page=True)
    context.close()
    title, cells = texts["ko"]
    assert title.startswith(f"주간 점검 {week}")
    assert "hh-withdrawn" in cells[0] and "방문" in cells[0]
    assert "이번 주 외출 1일, 평소 5일" in cells[0]
    # the trip's id is shown as text, not read as markup, and its week is an absence
    trip = next(c for c in cells if "hh-<trip>" in c)
    assert "부재" in trip and "현관문으로 귀가" in trip
    title, cells = texts["en"]
    assert title.startswith(f"Weekly review {week}")
    assert "went out on 1 day this week, usually 5" in cells[0] and "visit" in cells[0]
    assert "back through the entrance door" in next(c for c in cells if "hh-<trip>" in c)
