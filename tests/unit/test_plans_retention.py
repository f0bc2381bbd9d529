"""Ordering a plan's checkpoints, and what ``plan prune --keep N`` picks."""

import pytest

from karbor_volume_glance.plans import PlanError, catalog, retention


class Made:
    """A checkpoint as catalog and retention see it: id, status, index."""

    def __init__(self, checkpoint_id, status, timestamp, micro=None):
        self.id = checkpoint_id
        self.status = status
        info = {}
        if micro is not None:
            info = {"plan": {"created_at": f"2030-01-01T00:00:{timestamp % 60:02d}"
                             f".{micro:06d}Z", "site": "a"}}
        self.index = {"timestamp": timestamp, "extra_info": info,
                      "protection_plan": {"id": "p", "name": "n"}}

    def __repr__(self):
        return self.id


def ids(checkpoints):
    return [c.id for c in checkpoints]


def test_order_within_one_second_follows_the_microseconds():
    later = Made("a-later", "available", 100, micro=900)
    earlier = Made("z-earlier", "available", 100, micro=100)
    legacy = Made("m-legacy", "available", 99)  # no plan info: whole seconds
    assert ids(sorted([later, earlier, legacy], key=catalog.order_key)) == [
        "m-legacy", "z-earlier", "a-later"]
    assert catalog.created_at(legacy) == "1970-01-01T00:01:39Z"
    assert catalog.created_at(later) == "2030-01-01T00:00:40.000900Z"


def test_keeps_the_newest_available_and_deletes_older_ones():
    made = [Made(f"c{i}", "available", 100 + i, micro=0) for i in range(5)]
    selection = retention.select(made, keep=2)
    assert ids(selection.keep) == ["c3", "c4"]
    assert [(c.id, why) for c, why in selection.delete] == [
        ("c0", "older than the newest 2 available"),
        ("c1", "older than the newest 2 available"),
        ("c2", "older than the newest 2 available")]
    assert selection.skip == []


def test_failed_ones_go_once_a_newer_checkpoint_is_available():
    made = [Made("old-error", "error", 1, 0),
            Made("ok-1", "available", 2, 0),
            Made("mid-error", "error", 3, 0),
            Made("mid-error-deleting", "error-deleting", 4, 0),
            Made("ok-2", "available", 5, 0),
            Made("new-error", "error", 6, 0),        # may still be resumed
            Made("running", "protecting", 7, 0),     # may still be running
            Made("being-deleted", "deleting", 0, 0)]
    selection = retention.select(sorted(made, key=catalog.order_key), keep=2)
    assert ids(selection.keep) == ["ok-1", "ok-2", "new-error"]
    assert [(c.id, why) for c, why in selection.delete] == [
        ("old-error", "error, older than the newest available"),
        ("mid-error", "error, older than the newest available"),
        ("mid-error-deleting", "error-deleting, older than the newest available"),
    ]
    assert ids(selection.skip) == ["being-deleted", "running"]


def test_nothing_goes_without_an_available_checkpoint():
    made = [Made("e1", "error", 1, 0), Made("e2", "error", 2, 0)]
    selection = retention.select(made, keep=1)
    assert selection.delete == [] and ids(selection.keep) == ["e1", "e2"]


def test_keep_more_than_there_are():
    made = [Made("c1", "available", 1, 0)]
    selection = retention.select(made, keep=5)
    assert ids(selection.keep) == ["c1"] and selection.delete == []


@pytest.mark.parametrize("keep", [0, -1, True, 1.5, "2"])
def test_keep_must_be_a_positive_integer(keep):
    with pytest.raises(PlanError, match="--keep must be at least 1"):
        retention.select([], keep)


def test_require_plan_names_both_plans():
    class Plan:
        id, name, source = "other-id", "other", "p.yaml"
        ids = ["other-id"]

    with pytest.raises(PlanError, match=r"^p.yaml: checkpoint c1 is not a "
                       r"checkpoint of plan 'other' \(its plan: 'n'\)$"):
        catalog.require_plan(Made("c1", "available", 1), Plan)
