"""Session fixtures: real Mosquitto, Apache Kafka and InfluxDB on free ports, and settings for them.

Fixtures any test may use:
    mosquitto, kafka, influxdb: the running services (``.port``; ``.stop()``/``.restart()``).
    settings: :class:`config.Settings` pointing at all three, with a fresh data directory.
    make_settings(**overrides): the same, with dotted overrides (``{"web.port": 1234}``).
    unique: a function returning a fresh suffix, for topic or database names per test.

Fixtures of the kit modules (``tests/kit/``), registered below for every test:
    http_receiver, smtp_server, notify_settings (alerts); postgres_database (postgres);
    engine (registry); web_server (web); det_settings, worker (detector_worker);
    provider, call_settings (voicebot).
A test module imports helpers from ``tests.kit`` or ``testkit``, never from another test module
(tests/test_lint.py checks it).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from testkit.services import (
    KAFKA_READY_S,
    RunningService,
    running,
    settings_for,
    start_influxdb,
    start_kafka,
    start_mosquitto,
)

pytest_plugins = [
    "tests.kit.alerts",
    "tests.kit.detector_worker",
    "tests.kit.mqtt",
    "tests.kit.postgres",
    "tests.kit.registry",
    "tests.kit.voicebot",
    "tests.kit.web",
]


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def mosquitto(services_dir: Path) -> Iterator[RunningService]:
    spec, log = start_mosquitto(services_dir / "mosquitto")
    with running(spec, log) as service:
        yield service


@pytest.fixture(scope="session")
def kafka(services_dir: Path) -> Iterator[RunningService]:
    spec, log = start_kafka(services_dir / "kafka")
    with running(spec, log, KAFKA_READY_S) as service:
        yield service
        # The session is over and nothing reads the broker's data again: no orderly shutdown,
        # which takes over ten seconds with the hundreds of topics a whole suite leaves.
        service.kill()


@pytest.fixture(scope="session")
def influxdb(services_dir: Path) -> Iterator[RunningService]:
    spec, log = start_influxdb(services_dir / "influxdb")
    with running(spec, log) as service:
        yield service
        service.kill()  # as Kafka's: the session is over, its hundreds of databases are not read


_counter = itertools.count()


@pytest.fixture
def unique() -> Callable[[], str]:
    """Return a function giving a short suffix unique in this test session."""
    return lambda: f"{next(_counter)}{uuid.uuid4().hex[:6]}"


@pytest.fixture
def make_settings(
    tmp_path: Path,
    mosquitto: RunningService,
    kafka: RunningService,
    influxdb: RunningService,
) -> Callable[..., Settings]:
    """Build settings for the session's services; keyword overrides use ``__`` for dots."""

    def make(overrides: dict[str, Any] | None = None) -> Settings:
        return settings_for(tmp_path / "var", mosquitto, kafka, influxdb, overrides)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


ROOT = Path(__file__).resolve().parent.parent

OUR_PACKAGES = frozenset(
    p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"
)
"""Every package of the project (found on disk, so a new one is covered without a list)."""


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def fail_on_logged_errors() -> Iterator[_ErrorCollector]:
    """Turn any ERROR logged by anbu during the test into a failure (opt in)."""
    collector = _ErrorCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    yield collector
    root.removeHandler(collector)
    ours = [r for r in collector.records if r.name.split(".")[0] in OUR_PACKAGES]
    if ours:
        pytest.fail("errors were logged: " + "; ".join(r.getMessage() for r in ours))


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Real headless Chromium (Debian's package) driven by Playwright.

    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running in the
    main thread while it is open, and ``asyncio.run`` in any later test would then fail.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots and other things a person may look at."""
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
