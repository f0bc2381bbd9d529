"""A hypothesis state machine over chains of backups of one volume.

Its rules protect full and incremental backups while the volume changes
(a few 4 KiB blocks, or whole chunks), delete any backup (the chain's
first, middle or last), restore any backup and deep-verify it. After every
step each backup not yet deleted restores the exact data it was made of;
at the end, deleting the rest leaves nothing in the bank. It runs on the
fake cloud and the memory bank (see ``harness.py``), beside the
deterministic chain tests (``test_chain_deletes.py``), which it replaces
none of. Its size is bounded by the ``ci`` profile (``conftest.py``) and
the step count below. Half its runs are on an encrypted bank (format 4).
"""

import datetime
import random

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from karbor_volume_glance.bank import open_bank
from karbor_volume_glance.testing import FakeCloud
from tests.unit import chains
from tests.unit.chains import INCREMENTAL
from tests.unit.harness import OBJECT_SIZE, Harness

CHUNKS = 4
SIZE = CHUNKS * OBJECT_SIZE


class BackupChains(RuleBasedStateMachine):
    """Backups of one volume, protected, deleted and restored in any order."""

    @initialize(seed=st.integers(0, 2**32 - 1),
                compression=st.sampled_from(["none", "zlib", "zstd"]),
                keying=st.sampled_from(chains.KEYINGS))
    def start(self, seed, compression, keying):
        self.rng = random.Random(seed)
        self.harness = Harness(FakeCloud(transition_polls=1), open_bank("memory://"),
                               master_key=chains.master_key(keying))
        self.cloud = self.harness.cloud
        self.volume_id = self.cloud.add_volume(data=self.rng.randbytes(SIZE))
        self.params = {"backup_name": "chain", "compression": compression}
        self.alive = []  # chains.Point of every backup not deleted
        self.checked = set()  # ids of backups restored since the last change

    @rule(blocks=st.integers(1, 6))
    def scatter(self, blocks):
        chains.scatter(self.cloud, self.volume_id, self.rng, blocks, SIZE)

    @rule(chunk=st.integers(0, CHUNKS - 1), zero=st.booleans())
    def rewrite_a_chunk(self, chunk, zero):
        data = bytes(OBJECT_SIZE) if zero else self.rng.randbytes(OBJECT_SIZE)
        self.cloud.write_volume(self.volume_id, chunk * OBJECT_SIZE, data)

    @rule()
    def protect_full(self):
        self._protect(self.params)

    @precondition(lambda self: self.alive)
    @rule()
    def protect_incremental(self):
        point = self._protect({**self.params, **INCREMENTAL})
        assert point.manifest["incremental"] is True, point.manifest.get(
            "full_reason")

    def _protect(self, params):
        point = chains.protect_point(self.harness, self.volume_id, params)
        self.alive.append(point)
        return point

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def delete(self, data):
        point = data.draw(st.sampled_from(self.alive), label="deleted")
        self.harness.delete(self.volume_id, checkpoint=point.checkpoint)
        self.alive.remove(point)
        self.checked.clear()

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def restore(self, data):
        point = data.draw(st.sampled_from(self.alive), label="restored")
        chains.assert_restores(self.harness, self.volume_id, point)
        self.checked.add(point.id)

    @precondition(lambda self: self.alive)
    @rule(data=st.data())
    def verify_deep(self, data):
        point = data.draw(st.sampled_from(self.alive), label="verified")
        result = self.harness.verify(self.volume_id, checkpoint=point.checkpoint,
                                     params={"deep": True})
        assert result["bytes"] == len(point.data)

    @invariant()
    def every_backup_left_is_whole(self):
        # cheap after every step (a shallow verify: every object there, of
        # its size); the restores check the bytes
        for point in getattr(self, "alive", []):
            self.harness.verify(self.volume_id, checkpoint=point.checkpoint)

    def teardown(self):
        if not hasattr(self, "harness"):
            return
        for point in list(self.alive):
            chains.assert_restores(self.harness, self.volume_id, point)
            self.harness.delete(self.volume_id, checkpoint=point.checkpoint)
        left = chains.backup_keys(self.harness.bank)
        assert left == [], f"left in the bank: {left}"


BackupChains.TestCase.settings = settings(
    settings.default, max_examples=min(settings.default.max_examples, 15),
    stateful_step_count=12, deadline=datetime.timedelta(seconds=60))
TestBackupChains = BackupChains.TestCase
