"""Owners and shares of checkpoints: the on-bank records and the matching
rules (``format/owner.py``, ``standalone/tenancy.py``)."""

import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karbor_volume_glance.format import owner
from karbor_volume_glance.standalone import tenancy
from karbor_volume_glance.standalone.tenancy import Caller

NAME = st.text(st.characters(codec="ascii", categories=("L", "N"),
                             include_characters="-_."), min_size=1, max_size=20)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(NAME, NAME)
def test_a_share_text_round_trips(project, domain):
    entry = owner.parse_share(f"{project}@{domain}")
    assert entry == {"project": project, "domain": domain}
    assert owner.parse_share(owner.format_share(entry)) == entry
    assert owner.parse_share(project, default_domain=domain) == entry


@pytest.mark.parametrize("text", ["", "@", "p@", "@d", "a b", "p@d\x1b[0m",
                                  None, 3])
def test_malformed_share_texts_are_refused(text):
    with pytest.raises(ValueError):
        owner.parse_share(text)


@FAST
@given(st.dictionaries(st.sampled_from(["owner", "shared_with", "project_id",
                                        "x"]), JSON) | JSON,
       st.one_of(st.none(), NAME), st.one_of(st.none(), NAME),
       st.booleans())
def test_any_record_is_read_without_error_and_grants_no_stranger(
        record, project_name, domain_name, is_admin):
    """Whatever a record holds, reading its owner and shares never raises,
    and a caller matching nothing in it is granted nothing (but an admin)."""
    stranger = Caller("stranger-id-\u2603", project_name and project_name + "\u2603",
                      domain_name, is_admin=is_admin)
    assert isinstance(owner.shares_of(record), list)
    found = owner.owner_of(record)
    assert found is None or isinstance(found, dict)
    assert tenancy.can_read(record, stranger) is is_admin
    assert tenancy.can_change(record, stranger) is is_admin


@FAST
@given(NAME, NAME, NAME, NAME)
def test_the_owner_is_matched_by_id_or_by_both_names(pid, name, domain, other):
    record = {"owner": owner.new_owner(pid, name, domain, "u"),
              "project_id": pid}
    assert tenancy.owns(record, Caller(pid))
    assert tenancy.owns(record, Caller(pid + "-b", name, domain))  # other site
    assert not tenancy.owns(record, Caller(pid + "-b", name, domain + other))
    assert not tenancy.owns(record, Caller(pid + "-b", name + other, domain))
    assert not tenancy.owns(record, Caller(pid + "-b", name))  # no domain
    assert not tenancy.owns(record, Caller(None, name, domain))  # anonymous


def test_an_owner_without_names_is_matched_by_id_only():
    record = {"owner": owner.new_owner("p1"), "project_id": "p1"}
    assert tenancy.owns(record, Caller("p1"))
    assert not tenancy.owns(record, Caller("p2", None, None))
    assert not tenancy.owns(record, Caller("p2", "", ""))


def test_an_old_record_is_its_project_ids():
    record = {"project_id": "p1"}
    assert tenancy.owns(record, Caller("p1"))
    assert not tenancy.owns(record, Caller("p2", "team", "Default"))
    assert not tenancy.can_read(record, Caller("p2", "team", "Default"))
    assert tenancy.can_read(record, Caller("p2", is_admin=True))


def test_shares_grant_reading_not_changing_and_are_revocable():
    record = {"owner": owner.new_owner("p1", "team", "Default"),
              "project_id": "p1"}
    dr = Caller("p9", "dr", "Default")
    assert not tenancy.can_read(record, dr)
    assert owner.add_share(record, {"project": "dr", "domain": "Default"})
    assert not owner.add_share(record, {"project": "dr", "domain": "Default"})
    assert tenancy.can_read(record, dr) and not tenancy.can_change(record, dr)
    assert not tenancy.can_read(record, Caller("p8", "dr", "Other"))
    assert owner.remove_share(record, {"project": "dr", "domain": "Default"})
    assert not owner.remove_share(record, {"project": "dr", "domain": "Default"})
    assert not tenancy.can_read(record, dr)
    owner.add_share(record, {"project": "p9", "domain": None})  # by id
    assert tenancy.can_read(record, Caller("p9"))


def test_the_caller_of_a_context():
    assert tenancy.caller_of(None) == Caller(None)
    context = types.SimpleNamespace(project_id="p", project_name="team",
                                    project_domain_name="Default", user_id="u",
                                    roles=["member", "admin"])
    assert tenancy.caller_of(context) == Caller("p", "team", "Default", "u", True)
    plain = types.SimpleNamespace(project_id="p")
    assert tenancy.caller_of(plain) == Caller("p")
    assert not tenancy.caller_of(plain).is_admin
