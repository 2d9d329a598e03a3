"""What can be a call for help, told cheaply, and one SOS record per message from two lanes.

The bridge reads MQTT twice: the main lane takes every message in arrival order, and the SOS
lane (:mod:`ingest.sos_lane`) takes only the topics an SOS can come from
(:func:`sos_filters`). Both lanes see the SOS messages; :class:`SosClaims` pairs the two
copies of one message so that whichever lane reads it first sends it and the other one only
acknowledges its copy.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from anbu.events import SourceFormat
from ingest.adapters import ADAPTERS
from ingest.exceptions import IngestError
from ingest.readings import Emergency
from ingest.registry_cache import ANBU_ROOT, RegistryCache

_ANBU_PREFIX = f"{ANBU_ROOT}/"

_SOS_WORDS = (b"sos", b"fall")
"""Bytes every anbu SOS or fall message holds (its ``type``); others are not candidates."""


def sos_filters(cache: RegistryCache) -> set[str]:
    """MQTT topic filters covering every registered source of an SOS.

    ``anbu/<gateway_id>/#`` per registered gateway and ``<base topic>/#`` per registered
    button or anbu-speaking device (``t/#`` also matches ``t`` itself), leaving out the
    devices a gateway's filter already covers. Unregistered topics match none of them, so a
    flood from them never reaches the SOS lane.
    """
    gateways, topics = cache.sos_sources()
    known = set(gateways)
    filters = {f"{_ANBU_PREFIX}{gateway}/#" for gateway in gateways}
    for topic in topics:
        if topic.startswith(_ANBU_PREFIX):
            gateway, _, rest = topic[len(_ANBU_PREFIX) :].partition("/")
            if rest and gateway in known:
                continue
        filters.add(topic + "/#")
    return filters


def may_be_sos(cache: RegistryCache, topic: str, payload: bytes) -> bool:
    """Whether a message can carry an SOS, by a registry lookup and a byte search.

    A false answer is certain (unregistered topic, a device that cannot call for help, an
    anbu message without the words ``sos`` or ``fall``); a true one is checked by
    :func:`is_sos`. It never parses JSON, so junk costs the SOS lane next to nothing.
    """
    found = cache.owner_of(topic)
    if found is None:
        return False
    owner = found[0]
    if owner.kind == "button":
        return True
    if owner.source_format is SourceFormat.ANBU:
        return any(word in payload for word in _SOS_WORDS)
    return False


def is_sos(cache: RegistryCache, topic: str, payload: bytes) -> bool:
    """Whether a message is an SOS, by its device's adapter alone.

    Bad input is simply not an SOS here: nothing is logged or dead-lettered (the main lane
    does that with its own copy), so SOS-looking junk costs the SOS lane a JSON parse.
    """
    if not may_be_sos(cache, topic, payload):
        return False
    found = cache.owner_of(topic)
    if found is None:
        return False
    owner, suffix = found
    adapter = ADAPTERS.get(owner.source_format)
    if adapter is None:
        return False
    try:
        parsed = adapter(suffix, payload, owner)
    except IngestError:
        return False
    return any(isinstance(item, Emergency) for item in parsed.items)


class SosClaims:
    """Pairs the main lane's and the SOS lane's copies of each SOS (by idempotency key).

    The first lane to read an SOS claims it and sends it; when the other lane's copy of
    the same message arrives, it finds the claim, consumes it, and does not send. Claims are
    counted, so a device that legitimately sends the same bytes twice still gets two records;
    a claim whose pair never comes (a topic one lane does not subscribe to) is forgotten after
    ``keep_s``. Safe without losing anything: the lane that sent holds its own copy
    unacknowledged until Kafka has the record, and a crash loses the claims with it, so both
    sessions redeliver.

    Args:
        keep_s: how long an unpaired claim is remembered.
        max_claims: most claims remembered (the oldest are forgotten first).
    """

    def __init__(self, keep_s: float = 600.0, max_claims: int = 100_000) -> None:
        self.keep_s = keep_s
        self.max_claims = max_claims
        # key -> (lane holding the claim, claims not yet paired, when first claimed)
        self._claims: OrderedDict[str, tuple[str, int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, key: str, lane: str) -> bool:
        """Return True if ``lane`` should send the SOS ``key`` (False: the other lane did)."""
        now = time.monotonic()
        with self._lock:
            while self._claims:
                oldest = next(iter(self._claims.values()))
                if now - oldest[2] < self.keep_s and len(self._claims) < self.max_claims:
                    break
                self._claims.popitem(last=False)
            held = self._claims.get(key)
            if held is None:
                self._claims[key] = (lane, 1, now)
                return True
            holder, count, since = held
            if holder == lane:  # a second identical message before the other copy came
                self._claims[key] = (lane, count + 1, since)
                return True
            if count == 1:
                del self._claims[key]
            else:
                self._claims[key] = (holder, count - 1, since)
            return False
