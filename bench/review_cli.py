"""``anbu bench review``: the weekly review on a simulated district and over real logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bench.options import Seed
from bench.output import JsonOut, write_figures


def register(bench_app: typer.Typer) -> None:
    """Add ``review`` to ``anbu bench``."""
    bench_app.command("review")(review)


def review(
    households: Annotated[int, typer.Option(help="Households in the district.")] = 200,
    weeks: Annotated[int, typer.Option(help="Weeks simulated.")] = 10,
    withdrawing: Annotated[int, typer.Option(help="Residents who gradually withdraw.")] = 10,
    seed: Seed = 1,
    workers: Annotated[int, typer.Option(help="Processes the households are split over.")] = 2,
    real: Annotated[
        Path | None,
        typer.Option(
            "--real",
            help="Also replay the review over every *.csv in this folder (or this one file) "
            "and print each week's verdict.",
        ),
    ] = None,
    json_out: JsonOut = None,
) -> None:
    """Rank a simulated district's last week; count the withdrawing residents in the top 20."""
    from bench import review as br
    from detectors.review import week_label

    results: dict[str, Any] = {}
    if real is not None:
        files = sorted(real.glob("*.csv")) if real.is_dir() else [real]
        for path in files:
            replay = br.real(path)
            typer.echo(f"{path.name}:")
            rows: list[dict[str, Any]] = []
            for week in replay.weeks():
                for j in replay.ranked(week):
                    s = j.stats
                    verdict = "DECLINE" if j.declined else ("absence" if s.away else "-")
                    text = "; ".join(r.en for r in j.reasons)
                    typer.echo(
                        f"  {week_label(week)} {j.household_id} home {s.home_days}d away "
                        f"{s.away}d out {s.out_days}d  {verdict:8} {text}"
                    )
                    rows.append(
                        {
                            "week": week_label(week),
                            "household": j.household_id,
                            "home_days": s.home_days,
                            "away_days": s.away,
                            "declined": j.declined,
                            "score": round(j.score, 2),
                            "reasons": [r.en for r in j.reasons],
                        }
                    )
            away_weeks = [r for r in rows if r["away_days"]]
            flagged_away = [r for r in away_weeks if r["declined"]]
            typer.echo(
                f"  weeks with an absence: {len(away_weeks)}, of them ranked as a decline: "
                f"{len(flagged_away)}; weeks ranked as a decline: "
                f"{sum(1 for r in rows if r['declined'])} of {len(rows)}"
            )
            results[path.name] = rows
    typer.echo(
        f"simulating {households} households x {weeks} weeks, {withdrawing} withdrawing ..."
    )
    result = br.district(households, weeks, withdrawing, seed, workers)
    for rank, j in enumerate(result.ranked[: br.TOP], start=1):
        mark = "W" if j.household_id in result.withdrawing else " "
        text = "; ".join(r.en for r in j.reasons)
        typer.echo(f"  {rank:2} {mark} {j.household_id} score {j.score:5.2f}  {text}")
    missed = sorted(
        (rank, j.household_id, round(j.score, 2))
        for rank, j in enumerate(result.ranked, start=1)
        if j.household_id in result.withdrawing and rank > br.TOP
    )
    if missed:
        typer.echo(f"  withdrawing ranked lower: {missed}")
    typer.echo(f"  {result.seconds:.1f} s")
    results["district"] = {
        "households": households,
        "weeks": weeks,
        "seed": seed,
        "in_top": result.in_top,
        "withdrawing": withdrawing,
        "seconds": round(result.seconds, 1),
    }
    write_figures(json_out, results, ensure_ascii=False)
    typer.echo(f"withdrawing residents in the top {br.TOP}: {result.in_top}/{withdrawing}")
