"""kong.yml with consumer groups, memberships and ACL credentials: nested (decK's form) and flat give the
same snapshot and hash; dangling and duplicate references are errors with their paths."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config import ConfigError, load
from oidcgate.plugins.registry import config_schema

NESTED: dict[str, Any] = {
    "_format_version": "3.0",
    "consumers": [{"username": "alice", "acls": [{"group": "staff"}], "groups": [{"name": "gold"}]}],
    "consumer_groups": [{"name": "gold", "plugins": [{"name": "rate-limiting", "config": {"minute": 2}}]}],
}
FLAT: dict[str, Any] = {
    "_format_version": "3.0",
    "consumers": [{"username": "alice"}],
    "consumer_groups": [{"name": "gold"}],
    "consumer_group_consumers": [{"consumer": "alice", "consumer_group": {"name": "gold"}}],
    "acls": [{"group": "staff", "consumer": {"username": "alice"}}],
    "plugins": [{"name": "rate-limiting", "consumer_group": "gold", "config": {"minute": 2}}],
}


def test_nested_and_flat_documents_are_the_same_configuration() -> None:
    nested, flat = load(NESTED, config_schema), load(FLAT, config_schema)
    assert nested.hash == flat.hash
    (alice,), (gold,) = nested.consumers, nested.consumer_groups
    assert nested.acls[0].consumer == alice.id and nested.acls[0].group == "staff"
    assert (nested.consumer_group_consumers[0].consumer, nested.consumer_group_consumers[0].consumer_group) == (
        alice.id, gold.id)
    assert nested.plugins[0].consumer_group == gold.id
    assert load(nested.to_declarative(), config_schema).hash == nested.hash  # what a control plane pushes loads the same


def test_groups_from_another_consumer_group_member_list() -> None:
    doc = {"_format_version": "3.0", "consumers": [{"username": "alice"}],
           "consumer_groups": [{"name": "gold", "consumers": [{"username": "alice"}]}]}
    assert load(doc, config_schema).consumer_group_consumers[0].consumer == load(doc, config_schema).consumers[0].id


@pytest.mark.parametrize(("doc", "path", "message"), [
    ({"consumers": [{"username": "a", "groups": [{"name": "nope"}]}]},
     "consumers[0].groups[0].consumer_group", "no consumer_group with id or name 'nope'"),
    ({"acls": [{"group": "x"}]}, "acls[0].consumer", "required field missing"),
    ({"consumers": [{"username": "a", "acls": [{"group": "x"}, {"group": "x"}]}]},
     "consumers[0].acls[1].group", "the consumer is already in group 'x'"),
    ({"consumers": [{"username": "a", "groups": ["g", "g"]}], "consumer_groups": [{"name": "g"}]},
     "consumers[0].groups[1].consumer", "is already in this consumer group"),
    ({"consumers": [{"username": "a", "acls": [{"group": "a,b"}]}]}, "consumers[0].acls[0].group", "should match"),
])
def test_bad_references_are_reported_with_their_path(doc: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"_format_version": "3.0", **doc}, config_schema)
    assert any(e.path == path and message in e.message for e in caught.value.errors), caught.value.errors
