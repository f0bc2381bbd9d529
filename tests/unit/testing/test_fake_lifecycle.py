"""Statuses move on by polls: the clock of the fake cloud."""

from karbor_volume_glance.testing.lifecycle import Lifecycle, Stage


def polled(life, times):
    return [life.observe() for _ in range(times)]


def test_each_transitional_status_lasts_its_polls():
    life = Lifecycle("new")
    life.begin(Stage("creating", 2), Stage("downloading", 1), Stage("available"))
    assert life.status == "creating"
    assert polled(life, 5) == [
        "creating",
        "creating",
        "downloading",
        "available",
        "available",
    ]


def test_stage_with_no_polls_is_never_seen():
    life = Lifecycle("new")
    life.begin(Stage("creating", 0), Stage("available"))
    assert life.status == "available"
    assert not life.in_transition


def test_extend_adds_polls_to_the_current_stage():
    life = Lifecycle("new")
    life.begin(Stage("creating", 1), Stage("available"))
    life.extend(2)
    assert polled(life, 4) == ["creating", "creating", "creating", "available"]


def test_extend_does_nothing_to_a_final_status():
    life = Lifecycle("available")
    life.extend(3)
    assert polled(life, 1) == ["available"]


def test_finish_runs_every_stage_and_its_actions():
    entered = []
    life = Lifecycle("new")
    life.begin(
        Stage("deleting", 5),
        Stage("deleted", on_enter=lambda: entered.append("deleted")),
    )
    life.finish()
    assert (life.status, entered) == ("deleted", ["deleted"])


def test_watchers_hear_every_change():
    heard = []
    life = Lifecycle("available")
    life.watch(heard.append)
    life.begin(Stage("uploading", 1), Stage("available"))
    polled(life, 2)
    life.end_in("error")
    assert heard == ["uploading", "available", "error"]
