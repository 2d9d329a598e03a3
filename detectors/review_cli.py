"""``anbu review``: the week's visit plan from recorded events, printed or exported as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from detectors.review import Judgement

_HEAD = {
    "ko": ("순위", "가구", "판단", "집에 있던 날", "부재일", "외출일", "사유"),
    "en": ("rank", "household", "verdict", "days home", "days away", "days out", "why"),
}
_TEXT: dict[str, dict[str, str]] = {
    "ko": {
        "title": "주간 점검 {week} ({first} ~ {last}): 방문 계획",
        "declined": "방문",
        "away": "부재",
        "usual": "-",
        "none": "{week}에 판단한 가구가 없습니다",
        "note": "각 가구의 이번 주를 그 가구의 지난 8주와 비교했습니다. 방문: 생활 패턴이 줄어든 "
        "가구 (점수 순). 부재: 여행 등 집을 비운 날이 있는 주.",
    },
    "en": {
        "title": "Weekly review {week} ({first} to {last}): visit plan",
        "declined": "visit",
        "away": "away",
        "usual": "-",
        "none": "no household was judged in {week}",
        "note": "Each household's week against its own last eight weeks. Visit: the pattern "
        "declined (largest decline first). Away: days away from home (a trip), not a decline.",
    },
}


def verdict(judgement: Judgement, lang: str) -> str:
    """The plan's word for a judgement: visit, away, or ``-`` (as usual)."""
    text = _TEXT[lang]
    if judgement.declined:
        return text["declined"]
    return text["away"] if judgement.stats.away else text["usual"]


def register(app: typer.Typer) -> None:
    """Add ``review`` to the ``anbu`` command."""
    app.command("review")(review)


def review(
    events: Annotated[
        Path, typer.Option("--events", help="Events CSV (the format of `anbu backtest`).")
    ],
    week: Annotated[
        str | None,
        typer.Option("--week", help="ISO week, e.g. 2017-W16 (default: the last whole week)."),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="ko (default) or en.")] = "ko",
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the plan to this CSV file.")
    ] = None,
    html_out: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a printable page (HTML) of the plan here."),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option("--registry", help="Registry file (as for `anbu backtest`), for --center."),
    ] = None,
    center: Annotated[
        str | None, typer.Option("--center", help="Only this care center's households.")
    ] = None,
) -> None:
    """Print a week's visit plan: households whose pattern declined first, with the reason."""
    from detectors.backtest import load_registry, read_csv
    from detectors.exceptions import BacktestInputError
    from detectors.review import parse_week, review_rows, week_dates, week_label

    if lang not in _TEXT:
        typer.echo(f"anbu review: --lang {lang!r}: use ko or en", err=True)
        raise typer.Exit(2)
    try:
        wanted = parse_week(week) if week is not None else None
    except ValueError as exc:
        typer.echo(f"anbu review: {exc}", err=True)
        raise typer.Exit(2) from None
    if center is not None and registry is None:
        typer.echo("anbu review: --center needs --registry", err=True)
        raise typer.Exit(2)
    try:
        rows = read_csv(events)
        if center is not None and registry is not None:
            # the plan is per center: its households alone (the others are not replayed)
            ours = {
                hid
                for hid, record in load_registry(registry).households.items()
                if record.care_center_id == center
            }
            rows = [row for row in rows if row[1] in ours]
    except (BacktestInputError, OSError) as exc:
        typer.echo(f"anbu review: {exc}", err=True)
        raise typer.Exit(2) from None
    replay = review_rows(rows)
    weeks = replay.weeks()
    if wanted is None:
        # the last week the data covers whole (the file usually ends inside a week)
        whole = [w for w in weeks if any(j.stats.observed == 7 for j in replay.judgements[w])]
        wanted = (whole or weeks or [0])[-1]
    text = _TEXT[lang]
    first, last = week_dates(wanted)
    plan = replay.ranked(wanted)
    if not plan:
        typer.echo(text["none"].format(week=week_label(wanted)), err=True)
        raise typer.Exit(1)
    title = text["title"].format(week=week_label(wanted), first=first, last=last)
    title = f"{center}: {title}" if center else title
    typer.echo(title)
    table = []
    for rank, j in enumerate(plan, start=1):
        s = j.stats
        word = verdict(j, lang)
        why = "; ".join(r.text(lang) for r in j.reasons)
        table.append((rank, j.household_id, word, s.home_days, s.away, s.out_days, why))
        typer.echo(f"{rank:3}  {j.household_id:14} {word:6} {why}")
    if html_out is not None:
        html_out.write_text(plan_html(plan, title, lang), encoding="utf-8")
    if csv_out is not None:
        with csv_out.open("w", newline="", encoding="utf-8-sig") as handle:
            # utf-8 with a BOM: a spreadsheet opened by a care center shows the Korean text
            writer = csv.writer(handle)
            writer.writerow(_HEAD[lang])
            writer.writerows(table)


def plan_html(plan: list[Judgement], title: str, lang: str) -> str:
    """The visit plan as a printable HTML page (``detectors/templates/review.html``).

    Args:
        plan: the week's judgements in the plan's order (:meth:`Review.ranked`).
        title: the page's heading.
        lang: ``ko`` or ``en``.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("detectors", "templates"),
        autoescape=True,  # household ids and reasons are data: never markup
    )
    text = _TEXT[lang]
    rows = []
    for rank, j in enumerate(plan, start=1):
        s = j.stats
        visit, away = j.declined, bool(s.away)
        rows.append(
            {
                "rank": rank,
                "household": j.household_id,
                "verdict": verdict(j, lang),
                "css": "visit" if visit else "away" if away else "",
                "home": s.home_days,
                "away": s.away,
                "out": s.out_days,
                "reasons": [r.text(lang) for r in j.reasons],
            }
        )
    return env.get_template("review.html").render(
        lang=lang, title=title, note=text["note"], head=_HEAD[lang], rows=rows
    )
