"""``anbu bench`` with no subcommand (or ``anbu bench all``): every benchmark, one report.

Each stage imports its benchmark module only when it runs; a module that is not there yet,
or a stage that fails, leaves its figures ``null`` with the reason in the JSON and "n/a" in
the table: nothing is made up. Results go to ``bench-results/`` (``bench.json``,
``bench.txt``, ``bench.png``, ``household-week.png``, and each stage's raw figures).
"""

from __future__ import annotations

import importlib
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.report import Report, plot_household_week, write

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Options:
    """How big each stage is (``--quick`` makes everything small, for a smoke run)."""

    out: Path
    quick: bool

    @property
    def quality(self) -> dict[str, int]:
        """Households and days for the quality benchmark (the issue asks >= 500 x 60)."""
        return {"households": 24, "days": 30} if self.quick else {"households": 500, "days": 60}


@dataclass(frozen=True, slots=True)
class Stage:
    """One benchmark: the module it needs, the figures it fills, how to run it."""

    name: str
    module: str
    keys: tuple[str, ...]
    run: Callable[[Report, Options], None]


def _household_week(report: Report, options: Options) -> None:
    path = options.out / "household-week.png"
    report.details["household_week"] = {**plot_household_week(path), "png": str(path)}


def _quality(report: Report, options: Options) -> None:
    from bench.quality import run

    figures = run(households=options.quality["households"], days=options.quality["days"])
    report.details["quality"] = figures
    for name in ("routine", "fixed"):
        f = figures[name]
        report.set(f"quality_{name}_recall", f["recall"], "no collapse simulated")
        report.set(f"quality_{name}_recall_12h", f["recall_within_12h"], "no collapse simulated")
        report.set(
            f"quality_{name}_ttd_median_h",
            f["daytime_ttd_median_h"],
            "no daytime collapse detected",
        )
        report.set(
            f"quality_{name}_ttd_p90_h", f["daytime_ttd_p90_h"], "no daytime collapse detected"
        )
        report.set(f"quality_{name}_false_per_100", f["false_alarms_per_100_household_days"])


def _pipeline(report: Report, options: Options) -> None:
    from bench.pipeline import run

    size = {"households": 200, "messages": 30_000, "duration_s": 20.0} if options.quick else {}
    figures = run(**size)  # type: ignore[arg-type]
    report.details["pipeline"] = figures
    report.set("mqtt_raw_msgs_per_s", figures["raw_mqtt"]["msgs_per_s"])
    report.set("mqtt_raw_events_per_s", figures.get("raw_mqtt_events_per_s"))
    report.set("kafka_raw_records_per_s", figures["raw_kafka"]["records_per_s"])
    report.set("kafka_raw_events_per_s", figures["raw_kafka"].get("events_per_s"))
    report.set(
        "pipeline_events_per_s",
        figures.get("pipeline_events_per_s"),
        figures.get("pipeline_reason", "no rate measured"),
    )
    report.set("pipeline_ratio", figures.get("pipeline_ratio"), "no pipeline rate")
    # The ingest benchmark measures the bridge on its own; until it runs, the bridge's rate
    # inside the pipeline run stands in.
    if report.values.get("bridge_events_per_s") is None:
        report.set("bridge_events_per_s", figures.get("bridge_events_per_s"))
        report.set("bridge_ratio", figures.get("bridge_ratio"), "no bridge rate")


def _ingest(report: Report, options: Options) -> None:
    from bench.ingest import run
    from bench.ingest_cli import private_services

    with private_services() as settings:
        figures = run(settings, **({"messages": 5000} if options.quick else {}))
    report.details["ingest"] = figures
    report.set("bridge_events_per_s", figures.get("bridge_events_per_s"))
    report.set("bridge_ratio", figures.get("ratio"))


def _detectors(report: Report, options: Options) -> None:
    """The detectors engineer's measurements, each taken separately so one failure stays local."""
    bd = importlib.import_module("bench.detectors")
    quick = options.quick
    details: dict[str, Any] = {}
    report.details["detectors"] = details
    failures: dict[str, str] = {}

    def attempt(name: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
            if not isinstance(result, dict | list):
                raise TypeError(f"returned {type(result).__name__}, not figures")
            details[name] = result
        except Exception as exc:  # noqa: BLE001 - recorded as the figure's reason
            failures[name] = f"{type(exc).__name__}: {exc}"[:140]
            details[name] = None
        return details[name]

    def why(name: str) -> str:
        return (
            f"bench.detectors {name} failed: {failures[name]}"
            if name in failures
            else (f"bench.detectors {name} did not report it")
        )

    worker = attempt("worker", lambda: bd.worker_vs_raw(20_000 if quick else 800_000, 50)) or {}
    report.set("worker_events_per_s", worker.get("worker_events_per_s"), why("worker"))
    report.set("worker_ratio", worker.get("worker_vs_raw"), why("worker"))
    report.set("bare_ratio", worker.get("bare_vs_raw"), why("worker"))
    lag = attempt("lag", lambda: bd.deadline_lag(500 if quick else 2000)) or {}
    p50 = lag.get("lag_p50_s")
    report.set("inactivity_lag_p50_ms", None if p50 is None else p50 * 1000, why("lag"))
    p99 = lag.get("lag_p99_s")
    worst = lag.get("lag_max_s")
    report.set(
        "inactivity_lag_p99_ms",
        None if p99 is None else p99 * 1000,
        why("lag")
        if "lag" in failures or worst is None
        else f"bench.detectors reports p50 and max only (max {worst * 1000:.0f} ms)",
    )
    # quick: a tenth of the households and of the hot cache, so the same share is unpacked
    memory = attempt("memory", lambda: bd.memory_per_household(
        [10_000 if quick else 100_000], hot=1_000 if quick else None))
    row = (memory or [{}])[0]
    report.set("detector_bytes_per_household", row.get("bytes_per_household"), why("memory"))
    attempt("backtest", lambda: bd.backtest_rate(200 if quick else 2000, 8))


def _sos(report: Report, options: Options) -> None:
    from bench.sos import run

    figures = run(**({"sos": 100, "lag_households": 20} if options.quick else {}))
    report.details["sos"] = figures
    reason = f"only {figures['complete']} of {figures['sos']} SOS completed"
    report.set("sos_p50_ms", figures["p50_ms"], reason)
    report.set("sos_p99_ms", figures["p99_ms"], reason)
    # End to end through bridge and worker; it replaces the detectors benchmark's in-process
    # figure (kept in its details) when it was measured.
    lag = figures.get("inactivity_lag") or {}
    if lag.get("p50_ms") is not None:
        report.set("inactivity_lag_p50_ms", lag["p50_ms"])
    if lag.get("p99_ms") is not None:
        report.set("inactivity_lag_p99_ms", lag["p99_ms"])
    elif lag:
        report.set(
            "inactivity_lag_p99_ms",
            None,
            f"only {lag.get('alerts')} of {lag.get('households')} inactivity alerts arrived",
        )


def _registry(report: Report, options: Options) -> None:
    from bench.registry import run

    report.details["registry"] = run(households=500 if options.quick else 10_000)


def _web(report: Report, options: Options) -> None:
    from bench.web import run

    # Smaller than ``anbu bench web``'s district (10,000 x 30 days, minutes to fill the first
    # time) so that the whole suite stays within its ten minutes.
    size = (
        {"households": 200, "days": 3, "samples": 5}
        if options.quick
        else {"households": 1000, "days": 7, "samples": 20}
    )
    report.details["web"] = run(options.out / "web-influxdb", **size)  # type: ignore[arg-type]


STAGES: list[Stage] = [
    Stage("household_week", "simulator.world", (), _household_week),
    Stage(
        "quality",
        "bench.quality",
        tuple(
            f"quality_{d}_{k}"
            for d in ("routine", "fixed")
            for k in ("recall", "recall_12h", "ttd_median_h", "ttd_p90_h", "false_per_100")
        ),
        _quality,
    ),
    Stage("ingest", "bench.ingest", ("bridge_events_per_s", "bridge_ratio"), _ingest),
    Stage(
        "detectors",
        "bench.detectors",
        (
            "worker_events_per_s",
            "worker_ratio",
            "bare_ratio",
            "inactivity_lag_p50_ms",
            "inactivity_lag_p99_ms",
            "detector_bytes_per_household",
        ),
        _detectors,
    ),
    Stage(
        "pipeline",
        "bench.pipeline",
        (
            "mqtt_raw_msgs_per_s",
            "mqtt_raw_events_per_s",
            "kafka_raw_records_per_s",
            "kafka_raw_events_per_s",
            "pipeline_events_per_s",
            "pipeline_ratio",
        ),
        _pipeline,
    ),
    Stage("sos", "bench.sos", ("sos_p50_ms", "sos_p99_ms"), _sos),
    Stage("registry", "bench.registry", (), _registry),
    Stage("web", "bench.web", (), _web),
]


def run_all(options: Options, skip: set[str], say: Callable[[str], None]) -> Report:
    """Run every stage not skipped; a missing or failing one is reported, not fatal."""
    report = Report()
    options.out.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        if stage.name in skip:
            report.missing(list(stage.keys), "skipped (--skip)")
            continue
        try:
            importlib.import_module(stage.module)
        except ModuleNotFoundError as exc:
            report.missing(list(stage.keys), f"not available: {exc.name} is not installed yet")
            say(f"[{stage.name}] not available ({exc.name})")
            continue
        say(f"[{stage.name}] running ...")
        began = time.perf_counter()
        try:
            stage.run(report, options)
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not stop the rest
            (options.out / f"{stage.name}-error.txt").write_text(traceback.format_exc())
            report.missing(list(stage.keys), f"failed: {type(exc).__name__}: {exc}"[:160])
            say(f"[{stage.name}] failed: {type(exc).__name__}: {exc}")
        report.seconds[stage.name] = round(time.perf_counter() - began, 1)
        say(f"[{stage.name}] {report.seconds[stage.name]:.0f} s")
        # Keep what is measured so far, in case a later stage hangs.
        (options.out / "bench-partial.json").write_text(
            json.dumps(report.to_json(), indent=2, ensure_ascii=False)
        )
    return report


OutOption = Annotated[Path, typer.Option("--out", help="Where results go.")]
QuickOption = Annotated[
    bool, typer.Option("--quick", help="Small sizes: a smoke run, not the figures.")
]
SkipOption = Annotated[
    list[str] | None, typer.Option("--skip", help="Leave out a stage (repeatable).")
]
RESULTS = Path("bench-results")


def register(bench_app: typer.Typer) -> None:
    """Make ``anbu bench`` (no subcommand) and ``anbu bench all`` run every benchmark."""

    def bench_all(
        out: OutOption = RESULTS, quick: QuickOption = False, skip: SkipOption = None
    ) -> None:
        """Run every benchmark: print one table, write JSON and plots under --out."""
        began = time.perf_counter()
        report = run_all(Options(out, quick), set(skip or []), typer.echo)
        report.seconds["total"] = round(time.perf_counter() - began, 1)
        paths = write(report, out)
        typer.echo("")
        typer.echo(report.table())
        typer.echo("")
        typer.echo(
            f"total {report.seconds['total']:.0f} s; JSON {paths['json']}, plot {paths['png']}, "
            f"household week {out / 'household-week.png'}"
        )

    @bench_app.callback(invoke_without_command=True)
    def default(
        ctx: typer.Context,
        out: OutOption = RESULTS,
        quick: QuickOption = False,
        skip: SkipOption = None,
    ) -> None:
        """Benchmarks: numbers measured in one run on this machine (no subcommand: all)."""
        if ctx.invoked_subcommand is None:
            bench_all(out, quick, skip)

    bench_app.command("all")(bench_all)
