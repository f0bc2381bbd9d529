"""Two projects, two sites, one bank: whose checkpoints each one sees and may
change, through the CLI against local clouds.

Site A has projects ``team`` (alice), ``other`` (bob) and ``admin``; site B
has ``team`` again (the same tenant: the same names, another project id) and
``dr`` (carol). All of them point at one file bank.
"""

import os

import pytest
import yaml

from tests.functional.conftest import _start
from tests.functional.sites import OBJECT_SIZE, Site, cli

USERS_A = {"admin": ("secret", "admin"), "alice": ("pw-a", "team"),
           "bob": ("pw-b", "other")}
USERS_B = {"admin": ("secret", "admin"), "alice": ("pw-a", "team"),
           "carol": ("pw-c", "dr")}


@pytest.fixture
def tenants(tmp_path, clouds_yaml, monkeypatch, config_file):
    """The two sites' clouds.yaml entries, a Site per project, and a ``run``
    of the CLI as one of them on the shared bank."""
    cloud_a = _start(tmp_path, "cloud-a", users=USERS_A)
    cloud_b = _start(tmp_path, "cloud-b", users=USERS_B)
    entries = {
        "team-a": cloud_a.cloud_config("team"),
        "other-a": cloud_a.cloud_config("other"),
        "admin-a": cloud_a.cloud_config("admin"),
        "team-b": cloud_b.cloud_config("team"),
        "dr-b": cloud_b.cloud_config("dr"),
    }
    wrong = cloud_a.cloud_config("team")
    wrong["auth"] = dict(wrong["auth"], password="not-the-password")
    entries["team-a-wrong-password"] = wrong
    clouds_yaml.write_text(yaml.safe_dump({"clouds": entries}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    bank = f"file://{tmp_path}/bank"

    def run(cloud, *args, expect=0):
        return cli("--os-cloud", cloud, "--bank", bank, "--config-file",
                   config_file, *args, expect=expect)

    try:
        yield type("Tenants", (), {
            "run": staticmethod(run), "bank": bank,
            "team_a": Site(cloud_a, "team-a", str(clouds_yaml)),
            "other_a": Site(cloud_a, "other-a", str(clouds_yaml)),
            "team_b": Site(cloud_b, "team-b", str(clouds_yaml)),
            "dr_b": Site(cloud_b, "dr-b", str(clouds_yaml)),
        })
    finally:
        cloud_a.stop()
        cloud_b.stop()


def not_found(err, checkpoint_id):
    return err.strip() == (f"karbor-volume-glance: checkpoint {checkpoint_id} "
                           "could not be found")


def test_two_projects_one_bank_refusals_admin_sharing_and_cross_site(tenants):
    run = tenants.run
    data = os.urandom(2 * OBJECT_SIZE + 7)
    volume_id = tenants.team_a.create_volume(data)
    made = run("team-a", "protect", volume_id, "--name", "db")[0]["checkpoint_id"]
    [listed] = run("team-a", "list")[0]
    assert listed["id"] == made
    assert listed["owner"] == {
        "project_id": tenants.team_a.project_id, "project_name": "team",
        "domain_name": "Default", "user_id": listed["owner"]["user_id"]}
    assert listed["shared_with"] == []

    # another project of the same cloud: nothing to see, nothing to touch
    assert run("other-a", "list")[0] == []
    _, err = run("other-a", "list", "--all-projects", expect=1)
    assert "--all-projects needs the admin role" in err
    for command in ("show", "restore", "verify", "delete"):
        _, err = run("other-a", command, made, expect=1)
        assert not_found(err, made), (command, err)
    _, err = run("other-a", "share", made, "other", expect=1)
    assert not_found(err, made)
    _, err = run("other-a", "delete", "--bank-only", made, expect=1)
    assert "delete --bank-only needs credentials with the admin role" in err
    # the error is the same as for a checkpoint that does not exist
    _, err = run("other-a", "show", "no-such-checkpoint", expect=1)
    assert not_found(err, "no-such-checkpoint")

    # a wrong password deletes nothing, and says why
    _, err = run("team-a-wrong-password", "delete", made, expect=1)
    assert "not authorized" in err and "needs an authenticated caller" in err
    assert run("team-a", "show", made)[0]["status"] == "available"

    # the admin role sees every project's, when it asks
    assert run("admin-a", "list")[0] == []
    assert [c["id"] for c in run("admin-a", "list", "--all-projects")[0]] == [made]
    assert run("admin-a", "show", made)[0]["id"] == made

    # the same tenant at site B (the same names, another id) is the owner
    assert tenants.team_b.project_id != tenants.team_a.project_id
    assert [c["id"] for c in run("team-b", "list")[0]] == [made]
    restored, _ = run("team-b", "restore", made, "--name", "back")
    assert tenants.team_b.volume_bytes(
        restored["new_volume_ids"][volume_id])[:len(data)] == data

    # a differently named project at site B, once shared with
    _, err = run("dr-b", "restore", made, expect=1)
    assert not_found(err, made)
    assert run("team-a", "share", made, "dr")[0]["shared_with"] == ["dr@Default"]
    assert [c["id"] for c in run("dr-b", "list")[0]] == [made]
    restored, _ = run("dr-b", "restore", made)
    assert tenants.dr_b.volume_bytes(
        restored["new_volume_ids"][volume_id])[:len(data)] == data
    _, err = run("dr-b", "delete", made, expect=1)  # shared: read, not delete
    assert not_found(err, made)
    assert run("team-b", "unshare", made, "dr@Default")[0]["shared_with"] == []
    _, err = run("dr-b", "show", made, expect=1)
    assert not_found(err, made)

    # an operator deletes with the bank alone only with the admin role
    deleted, _ = run("admin-a", "delete", "--bank-only", made)
    assert deleted["ok"] is True
    assert run("team-a", "list")[0] == []


def test_share_with_at_protect_time_and_the_owner_deletes(tenants):
    run = tenants.run
    volume_id = tenants.team_a.create_volume(b"shared" * 1000)
    made = run("team-a", "protect", volume_id, "--share-with", "dr@Default",
               "--share-with", "other")[0]["checkpoint_id"]
    shown, _ = run("team-a", "show", made)
    assert shown["shared_with"] == ["dr@Default", "other@Default"]
    assert [c["id"] for c in run("other-a", "list")[0]] == [made]
    assert [c["id"] for c in run("dr-b", "list")[0]] == [made]
    assert run("other-a", "verify", made)[0]["ok"] is True
    assert run("team-a", "delete", made)[0]["ok"] is True
    assert run("other-a", "list")[0] == []


def _plan_file(tmp_path, bank, cloud, volume_id, config_file, **more):
    path = tmp_path / cloud / "nightly.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({
        "name": "nightly", "bank": bank,
        "sites": {"here": {"cloud": cloud, "config_file": config_file}},
        "resources": [volume_id], **more,
    }))
    return str(path)


def test_two_projects_plans_of_one_name_are_two_plans(tenants, tmp_path,
                                                      config_file):
    run = tenants.run
    team_data, other_data = os.urandom(OBJECT_SIZE + 3), os.urandom(OBJECT_SIZE + 5)
    team_plan = _plan_file(tmp_path, tenants.bank, "team-a",
                           tenants.team_a.create_volume(team_data), config_file)
    other_volume = tenants.other_a.create_volume(other_data)
    other_plan = _plan_file(tmp_path, tenants.bank, "other-a", other_volume,
                            config_file)
    team_made = [run("team-a", "plan", "protect", team_plan)[0]["checkpoint_id"]
                 for _ in range(2)]
    other_made = [run("other-a", "plan", "protect", other_plan)[0]["checkpoint_id"]
                  for _ in range(2)]

    assert [c["id"] for c in run("team-a", "plan", "list", team_plan)[0]] == team_made
    assert [c["id"] for c in run("other-a", "plan", "list", other_plan)[0]] == (
        other_made)
    pruned, _ = run("team-a", "plan", "prune", team_plan, "--keep", "1")
    assert [row["id"] for row in pruned["deleted"]] == team_made[:1]
    # the other team's checkpoints are all there
    assert [c["id"] for c in run("other-a", "plan", "list", other_plan)[0]] == (
        other_made)
    # latest is the caller's own plan's latest
    restored, _ = run("other-a", "plan", "restore", other_plan,
                      "--checkpoint", "latest")
    assert restored["checkpoint_id"] == other_made[-1]
    new_id = restored["new_volume_ids"][other_volume]
    assert tenants.other_a.volume_bytes(new_id)[:len(other_data)] == other_data
    # even one project's plan file naming the other's checkpoint touches
    # nothing of it
    _, err = run("team-a", "plan", "restore", team_plan, "--checkpoint",
                 other_made[-1], expect=1)
    assert not_found(err, other_made[-1])
    # plan files that say they are one plan (one id:, the same volumes) are
    # still two owners' plans: prune keeps to the caller's checkpoints
    for cloud, volume in (("team-a", other_volume), ("other-a", other_volume)):
        _plan_file(tmp_path, tenants.bank, cloud, volume, config_file,
                   id="nightly-shared")
    other_shared = [run("other-a", "plan", "protect", other_plan)[0]["checkpoint_id"]
                    for _ in range(2)]
    assert run("team-a", "plan", "list", team_plan)[0] == []
    pruned, _ = run("team-a", "plan", "prune", team_plan, "--keep", "1")
    assert pruned["deleted"] == [] and pruned["kept"] == []
    assert [c["id"] for c in run("other-a", "plan", "list", other_plan)[0]] == (
        other_shared)
