"""The worker's own record of what it has processed, per input partition.

The last processed offset of each input partition is kept in the state table, beside the
household state and in the same changelog, and written at every checkpoint after the
households of that checkpoint. After a restart, Kafka delivers again what came after the
last saved offset; a record at or before it was already applied and is skipped. A record
beyond the next expected offset means records were passed over (found here with Faust 0.15
on Tansu, the embedded broker then, when a worker was killed with SIGKILL while busy: it
resumed past records whose effect on the state had not been saved; and with Faust 0.15 on
Apache Kafka, when a rebalance began in the middle of a fetch). The worker then reads the
partition again from the first missing record (:mod:`detectors.rewind`); only records Kafka
no longer holds are passed over, and that is logged as an error, so a loss is never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

OFFSET_PREFIX = b"\x00offset:"


def progress_key(topic: str, partition: int) -> bytes:
    """The state-table key holding a partition's last processed offset."""
    return OFFSET_PREFIX + f"{topic}:{partition}".encode()


class Verdict(Enum):
    """What to do with a record."""

    PROCESS = "process"
    SKIP = "skip"  # already processed
    GAP = "gap"  # process it, though records before it were never seen


@dataclass
class OffsetGuard:
    """Last processed offsets by partition key."""

    last: dict[bytes, int | None] = field(default_factory=dict)

    def known(self, key: bytes) -> bool:
        """Whether the partition's progress has been loaded."""
        return key in self.last

    def load(self, key: bytes, offset: int | None) -> None:
        """Set the progress read from storage (None: nothing processed yet)."""
        self.last[key] = offset

    def expected(self, key: bytes) -> int:
        """The next offset in sequence."""
        last = self.last.get(key)
        return 0 if last is None else last + 1

    def check(self, key: bytes, offset: int) -> Verdict:
        """Decide about the record at ``offset``."""
        last = self.last.get(key)
        if last is None:
            return Verdict.PROCESS  # nothing processed here yet; retention may start anywhere
        if offset <= last:
            return Verdict.SKIP
        return Verdict.PROCESS if offset == last + 1 else Verdict.GAP

    def done(self, key: bytes, offset: int) -> None:
        """Record that the record at ``offset`` was processed."""
        self.last[key] = offset

    def forget(self, key: bytes) -> None:
        """Drop a partition's progress (it will be loaded again from storage)."""
        self.last.pop(key, None)

    def offset(self, key: bytes) -> int:
        """The last processed offset, or -1 if none."""
        last = self.last.get(key)
        return -1 if last is None else last
