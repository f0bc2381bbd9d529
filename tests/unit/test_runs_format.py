"""The run journal and lease format (format/runs.py): pure, checked by
examples and by hypothesis."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbor_volume_glance.format import runs

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36).filter(
    lambda s: s.strip("-"))


@given(ids, ids, st.sampled_from([runs.JOURNAL_KEY, runs.LEASE_KEY]))
def test_run_keys_round_trip(volume_id, run_id, name):
    key = runs.run_prefix(volume_id, run_id) + name
    assert runs.parse_run_key(key) == (volume_id, run_id)
    assert runs.parse_run_key(key[len(runs.RUNS_ROOT):]) == (volume_id, run_id)


@pytest.mark.parametrize("key", ["", "v/r", "v/r/other", "v/r/journal/x"])
def test_other_keys_are_not_runs(key):
    assert runs.parse_run_key(key) is None


@given(st.lists(st.tuples(st.sampled_from(runs.KINDS),
                          st.sampled_from([runs.TEMPORARY, runs.RESTORED]),
                          st.one_of(st.none(), ids)), max_size=6),
       st.sampled_from(runs.OPERATIONS))
def test_a_journal_as_written_parses(resources, operation):
    journal = runs.new_journal("r", operation, "c", "v", "b", "p", "h", 1, NOW)
    for kind, role, resource_id in resources:
        token = runs.intend(journal, kind, "name", role, NOW)
        if resource_id is not None:
            runs.created(journal, token, resource_id)
    assert runs.parse_journal(journal) is journal


@given(st.one_of(st.none(), st.integers(), st.text(), st.dictionaries(
    st.text(max_size=5), st.one_of(st.none(), st.text(max_size=5),
                                   st.integers()), max_size=4)))
def test_anything_else_is_refused(raw):
    with pytest.raises(ValueError):
        runs.parse_journal(raw)


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_a_run_is_dead_only_after_its_lease(age):
    lease = runs.new_lease("r", "h", 1, 300, NOW)
    later = NOW + datetime.timedelta(seconds=age)
    assert runs.is_dead(lease, later, 300) is (age > 300)


@pytest.mark.parametrize("lease", [None, {}, {"renewed_at": "never"}, "x"])
def test_a_run_without_a_readable_lease_is_dead(lease):
    assert runs.is_dead(lease, NOW, 300)


def test_tags_say_what_made_the_resource_and_only_those_may_go():
    journal = runs.new_journal("r", "protect", "c", "v", "b", "p", "h", 1, NOW)
    temporary = runs.tags(journal, runs.TEMPORARY)
    assert temporary == {runs.RUN_TAG: "r", runs.VOLUME_TAG: "v",
                         runs.CHECKPOINT_TAG: "c", runs.BANK_TAG: "b",
                         runs.TEMPORARY_TAG: "true"}
    assert runs.is_tagged(temporary)
    assert runs.is_tagged(runs.tags(journal, runs.RESTORED))
    assert not runs.is_tagged({runs.RUN_TAG: "r"})  # neither temporary nor unfinished
    assert not runs.is_tagged({"owner": "me"})
    assert not runs.is_tagged(None)
