"""The status document's typed form, its JSON Schema file, and how a saved document is read back."""

from __future__ import annotations

import json
import re
import types
from importlib import resources
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

import jsonschema
import pytest
from status_docs import a_view, blank_doc

from hostagent.commands.render import render_status
from hostagent.commands.status_view import StatusView
from hostagent.errors import StateError
from hostagent.service.status_types import read_saved

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def status_schema() -> dict[str, Any]:
    """The schema as the installed package ships it."""
    text = resources.files("hostagent").joinpath("data/status.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return root["$defs"][ref.removeprefix("#/$defs/")] if ref else node


def _nullable(node: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(null allowed, the schema of the non-null values)."""
    if "anyOf" in node:
        others = [n for n in node["anyOf"] if n != {"type": "null"}]
        assert len(node["anyOf"]) == 2, node
        assert len(others) == 1, node
        return True, others[0]
    if isinstance(node.get("type"), list):
        assert node["type"][1] == "null", node
        return True, {**node, "type": node["type"][0]}
    if "enum" in node and None in node["enum"]:
        return True, {**node, "enum": [v for v in node["enum"] if v is not None]}
    return False, node


def assert_agree(hint: Any, node: dict[str, Any], root: dict[str, Any], path: str) -> None:
    """The TypedDict (or field type) `hint` and the schema `node` describe the same values."""
    node = _resolve(node, root)
    if get_origin(hint) in (Union, types.UnionType):
        nullable, node = _nullable(node)
        assert nullable, f"{path}: the type allows null, the schema does not"
        (hint,) = (a for a in get_args(hint) if a is not type(None))
        node = _resolve(node, root)
    else:
        assert not _nullable(node)[0], f"{path}: the schema allows null, the type does not"
    if is_typeddict(hint):
        fields = get_type_hints(hint)
        assert node["type"] == "object", path
        assert list(node["properties"]) == list(fields), f"{path}: keys differ"
        assert node["required"] == list(fields), f"{path}: every key is always present"
        assert node["additionalProperties"] is False, f"{path}: the shape is closed"
        for key, kind in fields.items():
            assert_agree(kind, node["properties"][key], root, f"{path}.{key}")
    elif get_origin(hint) is list:
        assert node["type"] == "array", path
        assert_agree(get_args(hint)[0], node["items"], root, f"{path}[]")
    elif get_origin(hint) is Literal:
        assert node["enum"] == list(get_args(hint)), path
    else:
        assert node["type"] == JSON_TYPES[hint], path


def test_the_typed_form_and_the_schema_file_describe_the_same_document() -> None:
    """Every TypedDict's keys, types and nullability equal the schema's, recursively from StatusView."""
    schema = status_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert_agree(StatusView, schema, schema, "status")


def test_the_document_written_before_anything_is_known_fits_the_schema() -> None:
    """The agent's first document (no machine, no readings) is a valid `status --json` agent section."""
    jsonschema.validate(a_view(blank_doc()), status_schema())


def test_a_current_document_is_read_back_exactly_as_written() -> None:
    """Reading a document this version wrote changes nothing, not even the order of its keys."""
    doc = blank_doc()
    doc["machine"] = {"id": 4242, "hostname": "h", "gpu_name": "H100 SXM", "num_gpus": 8}
    doc["api"]["last_error"] = {"at": "2026-11-26T09:59:00+00:00", "operation": "show_machines",
                                "kind": "VastServerError", "status": 503, "message": "HTTP 503"}
    saved = json.loads(json.dumps(doc))
    assert json.dumps(read_saved(saved)) == json.dumps(doc)


def test_a_document_saved_before_identity_and_waiting_existed_is_filled_in_and_renders() -> None:
    """An older schema-1 document (no `identity`, no `last_actions.waiting`) reads as nothing recorded, nothing
    waiting: it fits the schema and `status` renders it."""
    old: dict[str, Any] = json.loads(json.dumps(blank_doc()))
    del old["identity"]
    del old["last_actions"]["waiting"]
    doc = read_saved(old)
    assert doc["identity"] == {"recorded": None, "mismatch": None}
    assert doc["last_actions"]["waiting"] == []
    jsonschema.validate(a_view(doc), status_schema())
    assert "machine: not read yet · enforce mode" in render_status(a_view(doc))


def test_a_document_saved_before_vast_signals_existed_reads_as_nothing_known_yet() -> None:
    """An older schema-1 document (no `vast_signals`) reads with every signal null and no reports, and renders."""
    old: dict[str, Any] = json.loads(json.dumps(blank_doc()))
    del old["vast_signals"]
    doc = read_saved(old)
    assert doc["vast_signals"]["offline"] is None
    assert doc["vast_signals"]["reports"] == []
    jsonschema.validate(a_view(doc), status_schema())
    assert "vast      verification unknown · reliability – · online: unknown" in render_status(a_view(doc))


def test_a_newer_documents_keys_this_version_does_not_know_are_left_out() -> None:
    """A document from a newer agent is shown for what this version understands."""
    newer: dict[str, Any] = json.loads(json.dumps(blank_doc()))
    newer["carbon"] = {"g_per_kwh": 120}
    newer["listing"]["tier"] = "gold"
    doc = read_saved(newer)
    assert "carbon" not in doc
    assert "tier" not in doc["listing"]
    jsonschema.validate(a_view(doc), status_schema())


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: d["listing"].pop("why"), "agent.listing lacks why"),
        (lambda d: d.pop("health"), "agent lacks health"),
        (lambda d: d.update(listing=[]), "agent.listing is [], not an object"),
        (lambda d: d["health"].update(gpus="none"), "agent.health.gpus is 'none', not a list"),
        (lambda d: d.update(mode="sometimes"), "agent.mode is 'sometimes', not one of ('observe', 'enforce')"),
        (lambda d: d["contracts"].update(running=True), "agent.contracts.running is True, not int"),
        (lambda d: d["machine"].update(num_gpus="8"), "agent.machine.num_gpus is '8', not int"),
    ],
)
def test_a_document_no_version_wrote_is_refused_naming_the_field(break_it: Any, message: str) -> None:
    """A hand-edited or damaged document is a clear StateError naming the field, never a traceback in `status`."""
    doc: dict[str, Any] = json.loads(json.dumps(blank_doc()))
    doc["machine"] = {"id": 4242, "hostname": "h", "gpu_name": "H100 SXM", "num_gpus": 8}
    break_it(doc)
    with pytest.raises(StateError, match=re.escape(f"the saved status document's {message}")):
        read_saved(doc)


def test_a_saved_value_that_is_not_an_object_is_refused() -> None:
    """A document that is JSON but not an object says what it is."""
    with pytest.raises(StateError, match="not a JSON object but list"):
        read_saved([1, 2])
