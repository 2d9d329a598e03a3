"""Helpers the tests and the benchmarks share: real clients for real services, no mocks.

Above every service package and below ``tests/`` and ``bench/`` (nothing in the product
imports it): publishing registry records, events and MQTT messages (:mod:`testkit.publishing`),
reading topics (:mod:`testkit.kafka_tail`), waiting for a condition (:mod:`testkit.polling`),
starting and stopping processes (:mod:`testkit.processes`), an HTTP server standing in for
a webhook receiver or a provider (:mod:`testkit.http_stand_in`), the services the tests run on
(:mod:`testkit.services`) and a whole private stack (:mod:`testkit.stack`).
"""
