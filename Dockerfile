# anbu's own processes (web, bridge, worker, alerts, series) for docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ANBU_STACK__DATA_DIR=/var/lib/anbu
WORKDIR /app
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY anbu ./anbu
COPY config ./config
COPY ingest ./ingest
COPY detectors ./detectors
COPY alerts ./alerts
COPY devices ./devices
COPY web ./web
COPY timeseries ./timeseries
COPY simulator ./simulator
COPY bench ./bench
COPY testkit ./testkit
RUN pip install --no-cache-dir . && mkdir -p /var/lib/anbu
ENTRYPOINT ["anbu"]
CMD ["--help"]
