"""``anbu bench quality``: detection quality on simulated households with incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bench.options import Seed, SimulatedDays, SimulatedHouseholds
from bench.output import Output, write_figures


def quality_table(figures: dict[str, Any]) -> str:
    """The routine-aware detector beside the fixed 24-hour rule, one line per figure."""
    rows = [
        ("collapses detected (recall)", "recall", "{:.0%}"),
        ("detected within 12 h", "recall_within_12h", "{:.0%}"),
        ("daytime collapse: median time to detect", "daytime_ttd_median_h", "{:.2f} h"),
        ("daytime collapse: 90th percentile", "daytime_ttd_p90_h", "{:.2f} h"),
        ("daytime collapse: slowest", "daytime_ttd_max_h", "{:.2f} h"),
        ("false alarms per 100 household-days", "false_alarms_per_100_household_days", "{:.2f}"),
        ("false alarms", "false_alarms", "{}"),
        ("  of which in registered away periods", "false_alarms_in_registered_away", "{}"),
        ("  of which in gateway outages", "false_alarms_in_gateway_outage", "{}"),
        ("illnesses alerted", "illnesses_alerted", "{}"),
        ("alerts in unregistered trips (justified)", "alerts_in_unregistered_trips", "{}"),
        ("core events/s (one process)", "events_per_s", "{:,}"),
    ]
    lines = [
        f"{figures['households']} households x {figures['days']} days, seed {figures['seed']}: "
        f"{figures['events']:,} events, incidents {figures['incidents']}",
        f"{'':44}{'routine-aware':>16}{'fixed 24 h':>16}",
    ]
    for label, key, fmt in rows:
        cells = []
        for name in ("routine", "fixed"):
            value = figures[name].get(key)
            cells.append("n/a" if value is None else fmt.format(value))
        lines.append(f"{label:44}{cells[0]:>16}{cells[1]:>16}")
    lines.append(f"measured in {figures['seconds']:.0f} s")
    return "\n".join(lines)


def _ttd_cell(t: dict[str, Any]) -> str:
    if not t.get("cuts"):
        return "-"

    def h(v: float | None) -> str:
        return ">48" if v is None else f"{v:.1f}"

    return (f"{h(t['median_h'])}/{h(t['p90_h'])} h {t['within_2h']:.0%}/{t['within_12h']:.0%}"
            f" n{t['cuts']}")


def real_table(figures: dict[str, Any]) -> str:
    """Per home and pooled: false alarms per 100 days and time to detect, by detector."""
    buckets = ("day 3", "day 7", "day 14+")
    head = (f"{'home':12}{'days':>5} {'detector':9}{'FA/100d':>9}{'(n)':>5}{'apart':>6}  "
            + "".join(f"{'TTD ' + b + ' med/p90 <=2h/<=12h':>32}" for b in buckets))
    lines = [head]
    homes = list(figures["homes"].items()) + [("pooled", {
        "days_with_data": figures["days_with_data"], "detectors": figures["pooled"]})]
    for name, entry in homes:
        for i, (det, f) in enumerate(entry["detectors"].items()):
            label = name if i == 0 else ""
            days = str(entry["days_with_data"]) if i == 0 else ""
            rate = f.get("false_alarms_per_100_days")
            cells = "".join(f"{_ttd_cell(f['ttd'].get(b, {})):>32}" for b in buckets)
            lines.append(f"{label:12}{days:>5} {det:9}{rate:>9}{f['false_alarms']:>5}"
                         f"{f['alerts_in_long_silences']:>6}  {cells}")
    pooled = figures["pooled"]
    lines.append("FA = ask-first alerts (inactivity, inactivity_routine, not_back, away_overrun) "
                 "in silences that ended within 24 h; apart = inside longer silences")
    lines.append("worst single log, FA/100 days: " + ", ".join(
        f"{d} {v['worst_home_per_100_days']}" for d, v in pooled.items()))
    lines.append(f"measured in {figures['seconds']:.0f} s")
    return "\n".join(lines)


def register(bench_app: typer.Typer) -> None:
    """Add ``quality`` to ``anbu bench``."""

    @bench_app.command("quality")
    def quality(
        ctx: typer.Context,
        households: SimulatedHouseholds = 500,
        days: SimulatedDays = 60,
        seed: Seed = 1,
        workers: Annotated[int, typer.Option(min=0, help="Processes; 0: one per CPU.")] = 0,
        output: Output = None,
        real: Annotated[Path | None, typer.Option(
            help="Measure on the real-home logs (*.csv, backtest format) in this folder "
            "instead of simulating; writes bench-results/quality-real.json and a PNG per home.",
            exists=True, file_okay=False)] = None,
        cuts: Annotated[int, typer.Option(
            min=1, help="--real: made collapses per home and age bucket.")] = 20,
        cut_seed: Annotated[int, typer.Option(help="--real: seed of the cut choice.")] = 13,
    ) -> None:
        """Recall and time to detect a collapse, false alarms: routine-aware vs fixed rule."""
        if real is not None:
            from bench import quality_real

            results = Path("bench-results")
            from config.cli_context import settings_of

            detectors = quality_real.default_detectors(settings_of(ctx).detectors)
            figures = quality_real.run(real, cuts=cuts, seed=cut_seed, pictures=results,
                                       detectors=detectors)
            typer.echo(real_table(figures))
            target = output or results / "quality-real.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_figures(target, figures, ensure_ascii=False)
            typer.echo(f"figures: {target}; pictures: {results}/quality-real-*.png")
            return
        from bench.quality import run
        from config.cli_context import settings_of
        from detectors.params import DetectorParams

        params = DetectorParams.from_settings(settings_of(ctx).detectors)
        figures = run(households=households, days=days, seed=seed, workers=workers or None,
                      params=params)
        typer.echo(quality_table(figures))
        write_figures(output, figures)
