"""The embedded Apache Kafka's spec: storage formatted once, readiness that means ready."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from anbu.stack import apache_kafka
from anbu.stack.apache_kafka import apache_kafka_spec, kafka_answers
from anbu.stack.services import free_port
from testkit.services import RunningService


def _cluster_id(directory: Path) -> str:
    meta = (directory / "data" / "meta.properties").read_text()
    return next(line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster"))


def test_storage_is_formatted_once_whatever_the_cluster_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A random id starts with "-" one time in 64; the storage tool must not read it as an option.
    monkeypatch.setattr(apache_kafka, "_cluster_id", lambda: "-nRk3QH7SVeW0wVZu0yGQQ")
    apache_kafka_spec(tmp_path, free_port(), free_port())
    assert _cluster_id(tmp_path) == "-nRk3QH7SVeW0wVZu0yGQQ"
    # A second spec on the same folder keeps its cluster (formatting again would lose it).
    monkeypatch.setattr(apache_kafka, "_cluster_id", lambda: "AAAAAAAAAAAAAAAAAAAAAA")
    spec = apache_kafka_spec(tmp_path, free_port(), free_port())
    assert _cluster_id(tmp_path) == "-nRk3QH7SVeW0wVZu0yGQQ"
    assert spec.argv[-1] == str((tmp_path / "server.properties").resolve())
    assert f"log.dirs={tmp_path.resolve() / 'data'}" in (tmp_path / "server.properties").read_text()


def test_ready_means_a_broker_answers(kafka: RunningService) -> None:
    assert kafka_answers("127.0.0.1", kafka.port)  # the control: the session's broker
    assert not kafka_answers("127.0.0.1", free_port())  # nothing listens
    with socket.socket() as silent:  # accepts connections, as a starting broker does
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not kafka_answers("127.0.0.1", silent.getsockname()[1], timeout_s=0.5)
