"""The operations' JSON schemas and the errors their validation raises."""

import pytest

from karbor_volume_glance import exceptions, schemas


def test_valid_options_pass():
    params = {"backup_name": "nightly", "description": "db volume"}
    assert schemas.validate(schemas.OPTIONS_SCHEMA, params) == params


@pytest.mark.parametrize(
    "params, field, rule",
    [
        ({}, "backup_name", "'backup_name' is a required property"),
        ({"backup_name": 5}, "backup_name", "5 is not of type 'string'"),
        ({"backup_name": None}, "backup_name", "None is not of type 'string'"),
        ({"backup_name": "x", "description": ["a"]}, "description",
         "is not of type 'string'"),
        ({"backup_name": "x", "compresion": "zlib"}, "compresion",
         "Additional properties are not allowed"),
    ],
)
def test_option_errors_name_the_field_and_the_rule(params, field, rule):
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.OPTIONS_SCHEMA, params)
    assert info.value.field == field
    assert rule in info.value.rule
    assert str(info.value).startswith(f"{field}: ")


def test_missing_backup_name_message_is_exact():
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.OPTIONS_SCHEMA, None)
    assert str(info.value) == "backup_name: 'backup_name' is a required property"


def test_restore_schema_requires_a_string_name():
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.RESTORE_SCHEMA, {"restore_name": 1})
    assert info.value.field == "restore_name"
    ok = {"restore_name": "back", "restore_description": "from last night"}
    assert schemas.validate(schemas.RESTORE_SCHEMA, ok) == ok


def test_parameters_must_be_an_object():
    with pytest.raises(exceptions.InvalidParameters, match="is not of type 'object'"):
        schemas.validate(schemas.OPTIONS_SCHEMA, ["backup_name"])


def test_verify_schema_takes_only_deep():
    assert schemas.validate(schemas.VERIFY_SCHEMA, {}) == {}
    assert schemas.validate(schemas.VERIFY_SCHEMA, {"deep": True}) == {"deep": True}
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.VERIFY_SCHEMA, {"deep": "yes"})
    assert info.value.field == "deep"
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.VERIFY_SCHEMA, {"shallow": True})
    assert info.value.field == "shallow"


def test_compression_must_be_a_known_algorithm():
    ok = {"backup_name": "b", "compression": "zstd"}
    assert schemas.validate(schemas.OPTIONS_SCHEMA, ok) == ok
    with pytest.raises(exceptions.InvalidParameters) as info:
        schemas.validate(schemas.OPTIONS_SCHEMA, {"backup_name": "b",
                                                  "compression": "lz4"})
    assert info.value.field == "compression"
