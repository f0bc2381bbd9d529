"""Property tests of every decoder of bank contents (hypothesis).

For each reader of what a bank holds (chunk streams, deltas, chunk records,
manifests of every format, index entries, checkpoint records and index keys,
owner records, the codec's payloads): valid inputs round-trip, and any
mutation of a valid input, or any random input, either decodes to something
checked or fails with the project's named error for that reader, never
another exception. The profile bounding them is in ``conftest.py``.
"""

import copy
import datetime
import hashlib
import json
import tempfile
import zlib

import zstandard
from hypothesis import assume, given
from hypothesis import strategies as st

from karbor_volume_glance import exceptions
from karbor_volume_glance.bank import codec, open_bank, owner
from karbor_volume_glance.format import checkpoint as record_format
from karbor_volume_glance.format import chunks, compression, delta, index, manifest
from karbor_volume_glance.standalone.resources import volume_resource

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)
#: Values a hostile writer would try in place of a field.
ODD = (st.sampled_from([None, True, False, 0, -1, 1, 2**64, 1.5, "", "x",
                        [], {}, ["a"], {"a": 1}, "../..", "0" * 64])
       | JSON)


def _paths(value, path=()):
    """Every path (a tuple of keys and indices) into a JSON value."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _paths(item, (*path, position))


@st.composite
def mutated(draw, value):
    """``value`` (a JSON value) with one part replaced, removed or added."""
    value = copy.deepcopy(value)
    path = draw(st.sampled_from(list(_paths(value))))
    if not path:
        return draw(ODD)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(ODD)
    elif action == "remove":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(ODD)
    else:
        parent.insert(path[-1], draw(ODD))
    return value


@st.composite
def mutated_bytes(draw, data):
    """``data`` with bytes flipped, cut, inserted or appended."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


# plain bytes that compress (repeated pieces) or do not (random)
PLAIN = st.one_of(
    st.binary(min_size=1, max_size=3000),
    st.builds(lambda piece, times: piece * times,
              st.binary(min_size=1, max_size=40), st.integers(1, 200)))
COMPRESSED = st.sampled_from([compression.ZLIB, compression.ZSTD])


# --- compression and chunk streams -------------------------------------------


@given(PLAIN, st.sampled_from(compression.ALGORITHMS))
def test_hypothesis_compression_round_trips(data, algorithm):
    used, stored = compression.compress(data, algorithm)
    assert compression.decompress("data_1", used, stored, len(data)) == data


@given(PLAIN, COMPRESSED, st.data())
def test_hypothesis_a_damaged_stream_fails_named_or_stays_in_bound(
        data, algorithm, draw):
    stored = {compression.ZLIB: lambda: zlib.compress(data),
              compression.ZSTD: lambda: zstandard.ZstdCompressor().compress(
                  data)}[algorithm]()
    damaged = draw.draw(mutated_bytes(stored))
    try:
        out = compression.decompress("data_7", algorithm, damaged, len(data))
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == "data_7"
    else:
        assert len(out) <= len(data)


@given(st.binary(max_size=400), COMPRESSED, st.integers(0, 5000))
def test_hypothesis_random_bytes_never_escape_the_bound(stored, algorithm, bound):
    try:
        out = compression.decompress("data_3", algorithm, stored, bound)
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == "data_3"
    else:
        assert len(out) <= bound


@given(PLAIN, COMPRESSED, st.data())
def test_hypothesis_chunk_decode_gives_the_data_or_a_named_error(
        data, algorithm, draw):
    record, stored = chunks.encode(4, 4 * 4096, data, algorithm)
    assert chunks.decode(record, stored) == data
    assume(stored is not None)
    damaged = draw.draw(mutated_bytes(stored))
    try:
        out = chunks.decode(record, damaged)
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == record.name
    else:
        assert out == data  # whatever decodes is checked against the sha256


# --- deltas -------------------------------------------------------------------

BLOCK = 16  # small blocks, so small chunks have many


@st.composite
def chunk_pair(draw):
    base = draw(st.binary(min_size=1, max_size=BLOCK * 12))
    new = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(new) - 1))
        new[at] = draw(st.integers(0, 255))
    return base, bytes(new)


@given(chunk_pair())
def test_hypothesis_deltas_round_trip(pair):
    base, new = pair
    blocks = delta.changed_blocks(base, new, BLOCK)
    patch = delta.encode(new, blocks, BLOCK)
    assert len(patch) == delta.size_of(len(new), blocks, BLOCK)
    assert len(patch) <= delta.max_size(len(new), BLOCK)
    assert delta.apply("data_2", base, patch, len(new), BLOCK) == new


@given(chunk_pair(), st.data())
def test_hypothesis_a_damaged_delta_fails_named(pair, draw):
    base, new = pair
    patch = delta.encode(new, delta.changed_blocks(base, new, BLOCK), BLOCK)
    damaged = draw.draw(mutated_bytes(patch))
    try:
        out = delta.apply("data_2", base, damaged, len(new), BLOCK)
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == "data_2"
    else:
        assert len(out) == len(new)


@given(st.binary(max_size=300), st.binary(min_size=1, max_size=200))
def test_hypothesis_random_deltas_fail_named(patch, base):
    try:
        out = delta.apply("data_9", base, patch, len(base), BLOCK)
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == "data_9"
    else:
        assert len(out) == len(base)


# --- manifests ----------------------------------------------------------------

SOURCE = "0f0e0d0c-0000-4000-8000-000000000001"
SOURCE_SECTION = f"/checkpoints/{SOURCE}/resource-data/vol/"


@st.composite
def manifests(draw):
    """A valid manifest of format 1, 2 or 3 (with zero, plain, compressed,
    referenced and delta chunks in format 3), and its chunks' data."""
    version = draw(st.sampled_from(manifest.PLAIN_VERSIONS))
    chunk_size = draw(st.sampled_from([64, 100, 4096]))
    count = draw(st.integers(1, 4))
    last = draw(st.integers(1, chunk_size))
    image_size = chunk_size * (count - 1) + last
    records = []
    for i in range(count):
        length = chunk_size if i < count - 1 else last
        data = draw(st.sampled_from([bytes(length), b"a" * length,
                                     bytes(range(256)) * (length // 256)
                                     + bytes(range(length % 256))]))
        algorithm = (compression.NONE if version == 1
                     else draw(st.sampled_from(compression.ALGORITHMS)))
        record, _ = chunks.encode(i, i * chunk_size, data, algorithm)
        if version == 1:
            raw = {"index": i, "length": length, "sha256": record.sha256,
                   "name": record.name}
        else:
            raw = record.to_dict()
            if version == 3 and not record.zero and draw(st.booleans()):
                raw["source"] = SOURCE
            if version == 3 and not record.zero and draw(st.booleans()):
                raw.pop("source", None)
                raw["compression"] = compression.ZSTD
                raw["delta_size"] = draw(st.integers(
                    1, delta.max_size(length)))
                raw["base"] = {"source": SOURCE, "sha256": record.sha256,
                               "stored_size": length, "compression": "none"}
        records.append(raw)
    raw = {
        "format_version": version, "volume_id": "vol", "volume_size": 1,
        "chunks_num": count, "image_size": image_size, "chunk_size": chunk_size,
        "image_metadata": {"checksum": "0" * 32, "disk_format": "raw",
                           "container_format": "bare"},
        "sha256": hashlib.sha256(b"x").hexdigest(), "chunks": records,
        "backup_name": draw(st.text(max_size=10)),
    }
    if version >= 2:
        raw["hash_algorithm"] = "sha256"
    if version == 3:
        raw["sources"] = {SOURCE: SOURCE_SECTION}
    return raw


LEGACY = st.builds(
    lambda size, count: {"volume_id": "vol", "volume_size": size,
                         "chunks_num": count,
                         "image_metadata": {"checksum": "a" * 32}},
    st.integers(1, 100), st.integers(0, 50))

MANIFEST_ERRORS = (exceptions.InvalidBackupMetadata,
                   exceptions.ChunkIntegrityError)


@given(manifests() | LEGACY)
def test_hypothesis_manifests_round_trip(raw):
    parsed = manifest.parse(json.loads(json.dumps(raw)), "vol")
    assert parsed.volume_size == raw["volume_size"]
    assert parsed.chunks_num == raw["chunks_num"]
    if parsed.legacy:
        return
    assert parsed.image_size == sum(c.length for c in parsed.chunks)
    if raw["format_version"] > 1:
        assert [c.to_dict() for c in parsed.chunks] == raw["chunks"]
    # what parse returns bounds the readers
    for record in parsed.chunks:
        assert record.length <= parsed.chunk_size <= manifest.MAX_CHUNK_SIZE
        assert record.delta_size <= delta.max_size(record.length)


@given(st.data())
def test_hypothesis_a_mutated_manifest_fails_only_named(draw):
    raw = draw.draw(manifests() | LEGACY)
    damaged = draw.draw(mutated(raw))
    try:
        parsed = manifest.parse(damaged, "vol")
    except MANIFEST_ERRORS:
        return
    # what parses is usable: its readers' fields have their types
    assert isinstance(parsed.volume_id, str)
    assert isinstance(parsed.backup_name, str)
    parsed.locations()
    parsed.stored_objects()
    parsed.references()


@given(JSON)
def test_hypothesis_random_manifests_fail_only_named(raw):
    try:
        manifest.parse(raw, "vol")
    except MANIFEST_ERRORS:
        pass


def test_a_manifest_with_a_list_as_source_is_named_not_a_type_error():
    raw = {"format_version": 3, "volume_id": "vol", "volume_size": 1,
           "chunks_num": 1, "image_size": 10, "chunk_size": 10,
           "image_metadata": {}, "sha256": "0" * 64, "hash_algorithm": "sha256",
           "sources": {},
           "chunks": [{"index": 0, "offset": 0, "length": 10, "sha256": "0" * 64,
                       "object": "data_1", "stored_size": 10,
                       "compression": "none", "source": ["a"]}]}
    try:
        manifest.parse(raw, "vol")
    except exceptions.ChunkIntegrityError as exc:
        assert exc.chunk == "data_1" and "source ['a']" in exc.reason
    else:
        raise AssertionError("a list as source parsed")


# --- index entries --------------------------------------------------------------

CHECKPOINT_IDS = st.uuids().map(str)


@st.composite
def entries(draw):
    checkpoint_id = draw(CHECKPOINT_IDS)
    entry = index.Entry(
        checkpoint_id=checkpoint_id, volume_id="vol",
        section=f"/checkpoints/{checkpoint_id}/resource-data/vol/",
        status=draw(st.sampled_from(index.STATUSES)),
        data_timestamp=draw(st.none() | st.datetimes(
            timezones=st.just(datetime.UTC)).map(lambda d: d.isoformat())),
        chunk_size=draw(st.none() | st.integers(1, 2**30)),
        parent_checkpoint_id=draw(st.none() | CHECKPOINT_IDS),
        uses=draw(st.dictionaries(CHECKPOINT_IDS, st.lists(
            st.integers(0, 1000), max_size=4), max_size=2)),
        retains=draw(st.lists(st.integers(0, 1000), max_size=4)))
    return f"{index.entries_prefix('vol')}{checkpoint_id}", entry.to_dict()


@given(entries())
def test_hypothesis_index_entries_round_trip(keyed):
    key, raw = keyed
    parsed = index.parse_entry(json.loads(json.dumps(raw)), key, "vol")
    assert parsed.to_dict() == raw
    index.needed([parsed])


@given(entries(), st.data())
def test_hypothesis_a_mutated_index_entry_fails_only_named(keyed, draw):
    key, raw = keyed
    try:
        parsed = index.parse_entry(draw.draw(mutated(raw)), key, "vol")
    except exceptions.InvalidBackupMetadata as exc:
        assert key in exc.reason
        return
    parsed.live  # noqa: B018 - usable
    parsed.moment  # noqa: B018
    index.needed([parsed])


@given(JSON, st.text(max_size=30))
def test_hypothesis_random_index_entries_fail_only_named(raw, key):
    try:
        index.parse_entry(raw, key, "vol")
    except exceptions.InvalidBackupMetadata:
        pass


# --- checkpoint records and index keys -----------------------------------------


@st.composite
def records(draw):
    checkpoint_id = draw(CHECKPOINT_IDS)
    volumes = [volume_resource(volume_id) for volume_id in draw(st.lists(
        CHECKPOINT_IDS, min_size=1, max_size=3, unique=True))]
    moment = draw(st.datetimes(min_value=datetime.datetime(1971, 1, 2),
                               max_value=datetime.datetime(2200, 1, 1),
                               timezones=st.just(datetime.UTC)))
    return record_format.new_record(
        checkpoint_id, volumes, "owner", record_format.STANDALONE_PROVIDER_ID,
        draw(st.sampled_from(["demo", "admin-project"])), draw(CHECKPOINT_IDS),
        draw(st.text(max_size=10)), draw(st.none() | st.just({"a": "b"})),
        moment), volumes


@given(records())
def test_hypothesis_checkpoint_records_round_trip(made):
    raw, volumes = made
    parsed = record_format.parse_record(json.loads(json.dumps(raw)), raw["id"])
    nodes = record_format.resource_nodes(parsed["resource_graph"], raw["id"])
    assert [node[1] for node in nodes] == [v.id for v in volumes]
    for key in record_format.index_keys(parsed):
        assert record_format.parse_index_key(key)[1] == raw["id"]


@given(records(), st.data())
def test_hypothesis_a_mutated_checkpoint_record_fails_only_named(made, draw):
    raw, _ = made
    damaged = draw.draw(mutated(raw))
    if draw.draw(st.booleans()):  # or damage inside its resource graph
        graph = json.loads(raw["resource_graph"])
        damaged = dict(raw, resource_graph=json.dumps(draw.draw(mutated(graph))))
    try:
        parsed = record_format.parse_record(damaged, raw["id"])
    except exceptions.InvalidCheckpointRecord as exc:
        assert exc.checkpoint_id == raw["id"]
        return
    record_format.index_keys(parsed)
    record_format.resource_nodes(parsed["resource_graph"], raw["id"])


@given(JSON)
def test_hypothesis_random_checkpoint_records_fail_only_named(raw):
    try:
        record_format.parse_record(raw, "c1")
    except exceptions.InvalidCheckpointRecord:
        pass


@given(st.text(max_size=60))
def test_hypothesis_random_index_keys_fail_only_named(key):
    try:
        stamp, checkpoint_id = record_format.parse_index_key(key)
    except exceptions.InvalidBankKey as exc:
        assert exc.key == key
    else:
        assert stamp and checkpoint_id


# --- owner records and the codec ---------------------------------------------------


def test_owner_records_round_trip():
    data = owner.new_record()
    assert owner.parse(data, "bank.json") == json.loads(data)["owner_id"]


@given(st.data())
def test_hypothesis_damaged_owner_records_fail_only_named(draw):
    data = draw.draw(st.binary(max_size=80) | mutated_bytes(owner.new_record())
                     | JSON.map(lambda v: json.dumps(v).encode()))
    try:
        assert owner.parse(data, "bank.json")
    except exceptions.BankError:
        pass


@given(JSON | st.binary(max_size=50) | st.text(max_size=50))
def test_hypothesis_codec_round_trips(value):
    kind, payload = codec.encode(value)
    assert codec.decode(kind, payload) == value


@given(st.sampled_from(sorted(codec.KINDS)) | st.text(max_size=8),
       st.binary(max_size=100) | st.just(b"[" * 100000))
def test_hypothesis_random_payloads_fail_only_named(kind, payload):
    try:
        codec.decode(kind, payload, key="k")
    except exceptions.BankError as exc:
        assert exc.key == "k"


@given(st.data())
def test_hypothesis_a_damaged_file_bank_object_reads_only_as_bank_error(draw):
    value = draw.draw(JSON | st.binary(max_size=40) | st.text(max_size=40))
    with tempfile.TemporaryDirectory() as root:
        bank = open_bank(f"file://{root}/bank")
        bank.update_object("/a/b", value)
        path = bank.backend._object_path("/a/b")
        with open(path, "rb") as stream:
            stored = stream.read()
        with open(path, "wb") as stream:
            stream.write(draw.draw(mutated_bytes(stored) | st.binary(max_size=80)))
        try:
            bank.get_object("/a/b")
        except exceptions.BankError as exc:
            assert exc.key == "/a/b"
