"""Strict validation of exported FollowTheMoney entities with the `followthemoney` library."""

from __future__ import annotations

import json
from typing import Any

from followthemoney import model
from followthemoney.proxy import EntityProxy
from followthemoney.types import registry


def validate_ftm_lines(text: str) -> list[EntityProxy]:
    """Every line one FtM entity that loads as exported, nothing dropped or rewritten by cleaning:
    a known, concrete schema; known properties only; values already in FtM's cleaned form and within
    the property's length; required properties present; entity references resolved in the export."""
    assert text.endswith("\n") or text == ""
    docs: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    ids = [doc["id"] for doc in docs]
    assert len(set(ids)) == len(ids), "entity ids are unique"
    proxies = []
    for doc in docs:
        assert set(doc) == {"id", "schema", "properties"}, doc
        schema = model.get(doc["schema"])
        assert schema is not None and not schema.abstract, doc["schema"]
        for name, values in doc["properties"].items():
            prop = schema.get(name)
            assert prop is not None, f"{schema.name} has no property {name}"
            assert values and all(isinstance(v, str) for v in values), (name, values)
            for value in values:
                assert len(value) <= prop.max_length, (name, value)
                if prop.type == registry.entity:
                    assert value in ids, f"{name} refers to {value}, not in the export"
                else:
                    assert prop.type.clean(value) == value, (name, value, prop.type.clean(value))
        schema.validate(doc)  # raises InvalidData: a required property missing or a value refused
        proxy = model.get_proxy(doc, cleaned=False)
        assert proxy.id == doc["id"]
        assert proxy.to_dict()["properties"] == doc["properties"], "cleaning changed nothing"
        proxies.append(proxy)
    return proxies
