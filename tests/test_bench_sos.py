"""The SOS benchmark's harness end to end: a private stack, a real webhook receiver.

A small run (not timed): every SOS published over MQTT comes back as one stored alert and one
webhook, and the latency figures are computed from them.
"""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_every_sos_is_stored_and_notified_once() -> None:
    from bench.sos import run
    from bench.sos_cli import sos_table

    figures = run(
        sos=20, interval_s=0.05, load_msgs_per_s=50, lag_households=5, lag_inactivity_s=10
    )
    assert figures["webhooks_received"] == 20
    assert figures["alerts_stored"] == 20
    assert figures["complete"] == 20
    assert figures["background_messages"] > 0
    # Five warm-up SOS and twenty measured ones, each notified exactly once.
    assert figures["sos_webhook_bodies"] == 25
    # Households silent past their 10 s threshold raise inactivity alerts soon after it.
    lag = figures["inactivity_lag"]
    assert lag["alerts"] == 5
    assert lag["p50_ms"] is not None and lag["p50_ms"] > -2
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    stages = figures["stage_p50_ms"]
    # Kafka's CreateTime has millisecond resolution: a stage can look a hair negative.
    assert all(value is not None and value > -2 for value in stages.values()), stages
    assert "publish -> stored and webhook received, p99" in sos_table(figures)


@pytest.mark.slow
def test_an_sos_is_not_delayed_or_dead_lettered_by_50000_junk_messages() -> None:
    """The user-facing promise under a flood: every SOS in the inbox within 1 s.

    One client floods the broker with 50,000 junk messages (unregistered topics, SOS-looking
    messages from unregistered gateways, bad JSON on registered devices and gateways) as
    fast as the broker takes them, while SOS buttons of other households are pressed. Before
    the SOS lane, the SOS waited behind the junk in the bridge's one MQTT session (median
    8.7 s, p99 12.6 s; 4.4 s and 6.0 s once the junk was no longer logged line by line).
    """
    from bench.sos_cli import flood_table
    from bench.sos_flood import run_flood

    figures = run_flood(junk=50_000, sos=40, interval_s=0.1, wait_s=30, drain_s=120)
    print(flood_table(figures))
    assert figures["sos"] >= 10, "the flood was over before the SOS presses: not a test"
    assert figures["complete"] == figures["sos"], figures
    # The promise is 1 s at p99 (`anbu bench sos --flood 50000` measures it: 0.5-1.6 s on
    # this shared 2-core machine at load 6-11, most of the tail in the alerts service's
    # store and webhook). The test holds the median and the bridge's part (publish -> SOS
    # record on anbu.sos) to 1 s and gives the whole p99 a generous margin. Before the SOS
    # lane: median 4.4 s, the bridge's p99 5.9 s (with the log limit per kind already).
    assert figures["p50_ms"] is not None and figures["p50_ms"] < 1000, figures
    bridge_p99 = figures["stage_p99_ms"]["publish -> SOS record on anbu.sos (bridge)"]
    assert bridge_p99 is not None and bridge_p99 < 1000, figures
    assert figures["p99_ms"] is not None and figures["p99_ms"] < 3000, figures
    # Not dead-lettered, and one record each: the main lane's late copies were paired.
    assert figures["sos_dead_lettered"] == 0
    assert figures["sos_records"] == figures["sos"]
    # Positive control: the junk really went through the bridge, none of it lost.
    assert figures["junk_dead_lettered"] == 50_000
    # Per kind of problem, not per topic: a handful of lines for 50,000 junk messages.
    assert 0 < figures["bridge_log_lines"] <= 20, figures["bridge_log_lines"]
