"""Plan files: reading, merging options, and errors that name file and field."""

import uuid

import pytest
import yaml

from karbor_volume_glance.plans import PlanError, load, model
from karbor_volume_glance.plans.schema import check
from karbor_volume_glance.standalone.tenancy import Caller


def write(tmp_path, document, name="plan.yaml"):
    path = tmp_path / name
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    path.write_text(text)
    return str(path)


def minimal(**changes):
    document = {"name": "nightly", "bank": "file:///srv/bank",
                "sites": {"a": "cloud-a"}, "resources": ["vol-1"]}
    document.update(changes)
    return document


def test_a_full_plan_merges_defaults_and_resolves_paths(tmp_path):
    path = write(tmp_path, {
        "name": "nightly-db",
        "description": "the database volumes",
        "bank": "file:///srv/bank",
        "parallelism": 3,
        "sites": {"site-a": "cloud-a",
                  "site-b": {"cloud": "cloud-b", "config_file": "b.conf"},
                  "site-c": {"cloud": "cloud-c", "config_file": "/etc/c.conf"}},
        "options": {"incremental": True, "compression": "zlib"},
        "restore": {"restore_description": "from nightly-db"},
        "resources": [
            "vol-1",
            {"id": "vol-2", "options": {"backup_name": "logs",
                                        "compression": "zstd"},
             "restore": {"restore_name": "logs-back"}},
        ],
    })
    plan = load(path)
    assert plan.name == "nightly-db" and plan.parallelism == 3
    assert plan.source == path
    assert plan.volume_ids == ["vol-1", "vol-2"]
    assert plan.site("site-a") == model.Site("site-a", "cloud-a")
    assert plan.site("site-b").config_file == str(tmp_path / "b.conf")
    assert plan.site("site-c").config_file == "/etc/c.conf"
    assert plan.protect_parameters(["vol-1", "vol-2"]) == {
        "vol-1": {"backup_name": "nightly-db", "incremental": True,
                  "compression": "zlib"},
        "vol-2": {"backup_name": "logs", "incremental": True,
                  "compression": "zstd"},
    }
    assert plan.restore_parameters(["vol-1", "vol-2", "gone"]) == {
        "vol-1": {"restore_description": "from nightly-db"},
        "vol-2": {"restore_description": "from nightly-db",
                  "restore_name": "logs-back"},
        "gone": {"restore_description": "from nightly-db"},
    }


def test_defaults_and_the_stable_plan_id(tmp_path):
    team = Caller("id-1", "team", "Default")
    unbound = load(write(tmp_path, minimal()))
    with pytest.raises(PlanError, match="depends on its owner"):
        unbound.id  # noqa: B018
    plan = unbound.for_caller(team)
    assert plan.parallelism == model.DEFAULT_PARALLELISM == 2
    again = load(write(tmp_path, minimal(), "again.yaml"))
    assert plan.id == again.for_caller(team).id
    # the same tenant at another site: another id, the same names
    assert plan.id == again.for_caller(Caller("id-2", "team", "Default")).id
    # two projects' plans of one name are two plans
    assert plan.id != again.for_caller(Caller("id-3", "other", "Default")).id
    assert plan.id != again.for_caller(Caller("id-1", "team", "Other")).id
    assert plan.id != load(write(tmp_path, minimal(name="other"),
                                 "o.yaml")).for_caller(team).id
    # not the plain CLI's plan id for the same name, nor the name-only one
    assert plan.id != str(uuid.uuid5(uuid.NAMESPACE_URL, "nightly"))
    assert plan.ids == [plan.id, model.plan_id("nightly")]
    assert plan.site() is plan.sites["a"]  # the only site


def test_a_plan_id_given_in_the_file_is_the_plans_id(tmp_path):
    plan = load(write(tmp_path, minimal(id="nightly-db-7")))
    assert plan.id == "nightly-db-7"
    assert plan.for_caller(Caller("id-1", "team", "Default")).id == "nightly-db-7"
    with pytest.raises(PlanError, match="id"):
        load(write(tmp_path, minimal(id="../up"), "bad.yaml"))


def test_choosing_a_site():
    plan = model.from_document(minimal(sites={"a": "x", "b": "y"}), "p.yaml")
    with pytest.raises(PlanError, match=r"^p.yaml: the plan has several sites "
                       r"\(a, b\): give --site$"):
        plan.site()
    with pytest.raises(PlanError, match=r"no site 'c' in the plan \(sites: a, b\)"):
        plan.site("c")


def test_a_volume_the_plan_no_longer_lists_has_no_protect_options():
    plan = model.from_document(minimal(), "p.yaml")
    with pytest.raises(PlanError, match="volume gone is not in the plan any more"):
        plan.protect_parameters(["vol-1", "gone"])


@pytest.mark.parametrize("changes, message", [
    ({"name": None}, "name: None is not of type 'string'"),
    # (the rule's wording of empty values differs between jsonschema versions)
    ({"bank": ""}, "bank: '' "),
    ({"parallelism": 0}, "parallelism: 0 is less than the minimum of 1"),
    ({"parallelism": 65}, "parallelism: 65 is greater than the maximum of 64"),
    ({"parallelism": True}, "parallelism: True is not of type 'integer'"),
    ({"retention": 3}, "retention: Additional properties are not allowed"),
    ({"sites": {}}, "sites: {} "),
    ({"sites": {"a": {"config_file": "x"}}},
     "sites.a.cloud: 'cloud' is a required property"),
    ({"sites": {"a": {"cloud": "x", "region": "y"}}},
     "sites.a.region: Additional properties are not allowed"),
    ({"sites": {"a": 3}}, "sites.a: 3 is not of type 'string', 'object'"),
    ({"resources": []}, "resources: [] "),
    ({"resources": [123]}, "resources[0]: 123 is not of type 'string', 'object'"),
    ({"resources": ["v", {"options": {}}]},
     "resources[1].id: 'id' is a required property"),
    ({"resources": ["v", {"id": "w", "options": {"compression": "lz4"}}]},
     "resources[1].options.compression: 'lz4' is not one of"),
    ({"resources": [{"id": "v", "options": {"bogus": 1}}]},
     "resources[0].options.bogus: Additional properties are not allowed"),
    ({"resources": [{"id": "v", "restore": {"restore_nam": "x"}}]},
     "resources[0].restore.restore_nam: Additional properties are not allowed"),
    ({"resources": ["v", "w", "v"]}, "resources[2].id: volume v is already "
     "resources[0]"),
    ({"options": {"incremental": "yes"}},
     "options.incremental: 'yes' is not of type 'boolean'"),
    ({"options": {"snapshot_id": "s"}},
     "options.snapshot_id: snapshot_id belongs to one volume"),
    ({"options": {"parent_checkpoint_id": "c", "incremental": True}},
     "options.parent_checkpoint_id: parent_checkpoint_id belongs to one volume"),
    ({"restore": {"server_id": "s"}},
     "restore.server_id: server_id belongs to one volume"),
    ({"options": {"encrypt": "yes"}},
     "options.encrypt: 'yes' is not of type 'boolean'"),
    ({"resources": ["v", {"id": "w", "options": {"encrypt": True}}]},
     "resources[1].options.encrypt: encrypt belongs to the plan's bank, not "
     "one volume"),
    ({"sites": {"a": {"cloud": "x", "key_file": ""}}}, "sites.a.key_file: '' "),
    ({"resources": [{"id": "v", "options": {"parent_checkpoint_id": "c"}}]},
     "resources[0].options.incremental: 'incremental' is a required property"),
    ({"resources": [{"id": "v", "restore": {"replace_volume": True}}]},
     "resources[0].restore.server_id: 'server_id' is a required property"),
])
def test_invalid_plans_name_the_file_and_the_field(tmp_path, changes, message):
    path = write(tmp_path, minimal(**changes))
    with pytest.raises(PlanError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert caught.value.source == path


def test_a_defaulted_parent_is_fine_with_incremental_from_the_plan():
    plan = model.from_document(minimal(
        options={"incremental": True},
        resources=[{"id": "v", "options": {"parent_checkpoint_id": "c"}}]))
    assert plan.protect_parameters(["v"])["v"]["parent_checkpoint_id"] == "c"


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed\n", r"not valid YAML: .*\(line \d+, column \d+\)"),
    ("- a\n- b\n", "a plan is a mapping with name, bank, sites and resources, "
     "not list"),
    ("", "a plan is a mapping with name, bank, sites and resources, not "
     "NoneType"),
])
def test_unreadable_plan_files(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PlanError, match=message):
        load(path)


def test_a_missing_plan_file(tmp_path):
    with pytest.raises(PlanError, match=r"nope.yaml: cannot read the plan "
                       r"file: No such file or directory"):
        load(tmp_path / "nope.yaml")


def test_check_names_the_whole_plan_when_no_field_applies():
    with pytest.raises(PlanError, match="^a plan is a mapping"):
        check(["x"])


def test_encrypt_is_the_plan_banks_option_and_key_file_a_sites(tmp_path):
    path = write(tmp_path, minimal(
        id="nightly-1", options={"encrypt": True, "incremental": True},
        sites={"a": {"cloud": "cloud-a", "key_file": "a.key"},
               "b": {"cloud": "cloud-b", "key_file": "/etc/kvg/b.key"},
               "c": "cloud-c"}))
    plan = load(path)
    assert plan.bank_options == {"encrypt": True}
    assert plan.protect_parameters(["vol-1"]) == {
        "vol-1": {"backup_name": "nightly", "incremental": True}}
    assert plan.config_overrides(plan.site("a")) == {
        "encrypt": True, "key_file": str(tmp_path / "a.key")}
    assert plan.config_overrides(plan.site("b")) == {
        "encrypt": True, "key_file": "/etc/kvg/b.key"}
    assert plan.config_overrides(plan.site("c")) == {"encrypt": True}
    assert plan.to_dict()["options"] == {"encrypt": True}
    plain = model.from_document(minimal(options={"encrypt": False}))
    assert plain.config_overrides(plain.site("a")) == {"encrypt": False}
    unset = model.from_document(minimal(id="nightly-1"))
    assert unset.config_overrides(unset.site("a")) == {}
    assert "options" not in unset.to_dict()


def test_the_plans_overrides_are_the_options_of_conf_py(tmp_path):
    """The plan maps onto [volume_glance_plugin]: it wins over the site's
    config file, which gives the rest; no default of its own."""
    from karbor_volume_glance import conf

    config_file = tmp_path / "site.conf"
    config_file.write_text("[volume_glance_plugin]\nencrypt = true\n"
                           "key_file = /etc/kvg/site.key\n")
    plan = model.from_document(minimal(
        options={"encrypt": False},
        sites={"a": {"cloud": "x", "key_file": "/etc/kvg/plan.key"}}))
    settings = conf.load_settings(conf.make_config(
        str(config_file), **plan.config_overrides(plan.site("a"))))
    assert (settings.encrypt, settings.key_file) == (False, "/etc/kvg/plan.key")
    unset = model.from_document(minimal())
    settings = conf.load_settings(conf.make_config(
        str(config_file), **unset.config_overrides(unset.site("a"))))
    assert (settings.encrypt, settings.key_file) == (True, "/etc/kvg/site.key")
    assert conf.load_settings(conf.make_config(
        None, **unset.config_overrides(unset.site("a")))).encrypt is False
