"""ConfigError.fields(): Kong's nested `fields` shape for Admin API errors, nothing lost."""

from __future__ import annotations

from oidcgate.config.errors import ConfigError, FieldError


def test_nested_paths_become_nested_fields() -> None:
    error = ConfigError([FieldError("config.issuer", "required field missing"),
                         FieldError("config.scopes[1]", "not a scope token")])
    assert error.fields() == {"config": {"issuer": "required field missing", "scopes": {"1": "not a scope token"}}}


def test_an_error_on_a_field_and_on_its_items_are_both_kept_in_any_order() -> None:
    item_first = ConfigError([FieldError("paths[0]", "bad"), FieldError("paths", "also bad")]).fields()
    field_first = ConfigError([FieldError("paths", "also bad"), FieldError("paths[0]", "bad")]).fields()
    assert item_first == field_first == {"paths": {"0": "bad", "@entity": "also bad"}}


def test_two_errors_on_one_field_and_entity_level_errors() -> None:
    error = ConfigError([FieldError("name", "too long"), FieldError("name", "invalid"), FieldError("", "must set one")])
    assert error.fields() == {"name": "too long; invalid", "@entity": "must set one"}
    assert str(error).splitlines() == ["name: too long", "name: invalid", "must set one"]
