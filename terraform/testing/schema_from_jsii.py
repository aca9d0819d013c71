"""Rebuild a Terraform provider schema from a cdktn prebuilt-provider wheel.

The ``cdktn-provider-*`` wheels carry a jsii tarball whose compiled ``lib/<type>/index.js`` files
hold, per resource, data source and nested block:

* a comment per attribute: ``// name - computed: X, optional: Y, required: Z``;
* the getter or field under it (``getStringAttribute``, ``new FooList(this, "x", isSet)``, ...);
* ``synthesizeHclAttributes`` / ``fooToHclTerraform`` tables saying, for every configurable field,
  whether it is a block and its nesting (``list``, ``set``, ``struct``, ``map``, ``simple``).

That is enough for the shape Terraform validates configuration against: names, types,
required/optional/computed, and block nesting with min/max items. Usage::

    python schema_from_jsii.py WHEEL OUT.json
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from typing import Any

_CLASS = re.compile(r"^class (\w+) extends ([\w.]+) \{$", re.MULTILINE)
_FLAGS = re.compile(
    r"^    // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$",
    re.MULTILINE,
)
_HCL_ENTRY = re.compile(
    r"^\s+(\w+): \{\n(?:\s+value: [^\n]*\n)?\s+isBlock: (true|false),\n"
    r"\s+type: \"(\w+)\",\n\s+storageClassType: \"(\w+)\",",
    re.MULTILINE,
)
_TF_TYPE = re.compile(r'static tfResourceType = "([\w-]+)";')
_HCL_FUNCTION = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{$", re.MULTILINE)

_GETTER_TYPES: dict[str, Any] = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "interpolationForAttribute": "dynamic",
    "getAnyMapAttribute": ["map", "dynamic"],
}
_MAP_CLASSES: dict[str, Any] = {
    "StringMap": ["map", "string"],
    "NumberMap": ["map", "number"],
    "BooleanMap": ["map", "bool"],
    "AnyMap": ["map", "dynamic"],
    "StringMapList": ["list", ["map", "string"]],
}
_SIMPLE_STORAGE: dict[str, Any] = {
    "string": "string",
    "number": "number",
    "boolean": "bool",
    "stringList": "string",
    "numberList": "number",
    "booleanList": "bool",
    "stringMap": "string",
    "numberMap": "number",
    "booleanMap": "bool",
}


@dataclass
class Field:
    name: str
    computed: bool
    optional: bool
    required: bool
    tail: str  # the source lines after the comment, up to the next field


@dataclass
class Module:
    """One compiled ``index.js``: its classes' fields and its HCL tables."""

    classes: dict[str, list[Field]] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    hcl: dict[str, dict[str, tuple[bool, str, str]]] = field(default_factory=dict)


def parse_module(source: str) -> Module:
    module = Module()
    starts = list(_CLASS.finditer(source))
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(source)
        body = source[match.end() : end]
        name = match.group(1)
        module.bases[name] = match.group(2)
        module.bodies[name] = body
        flags = list(_FLAGS.finditer(body))
        fields = []
        for position, flag in enumerate(flags):
            stop = flags[position + 1].start() if position + 1 < len(flags) else len(body)
            fields.append(
                Field(
                    name=flag.group(1),
                    computed=flag.group(2) == "true",
                    optional=flag.group(3) == "true",
                    required=flag.group(4) == "true",
                    tail=body[flag.end() : stop],
                )
            )
        module.classes[name] = fields
        if "synthesizeHclAttributes()" in body:
            hcl_part = body[body.index("synthesizeHclAttributes()") :]
            module.hcl[name] = _hcl_entries(hcl_part)
    functions = list(_HCL_FUNCTION.finditer(source))
    for index, match in enumerate(functions):
        end = functions[index + 1].start() if index + 1 < len(functions) else len(source)
        part = source[match.end() : end]
        part = part[: part.find("\n}\n")] if "\n}\n" in part else part
        base = match.group(1)
        class_name = base[0].upper() + base[1:] + "OutputReference"
        module.hcl[class_name] = _hcl_entries(part)
    return module


def _hcl_entries(text: str) -> dict[str, tuple[bool, str, str]]:
    return {
        m.group(1): (m.group(2) == "true", m.group(3), m.group(4))
        for m in _HCL_ENTRY.finditer(text)
    }


def _element_class(storage: str) -> str:
    for suffix in ("List", "Map"):
        if storage.endswith(suffix) and storage[0].isupper():
            return storage[: -len(suffix)] + "OutputReference"
    return storage + "OutputReference"


def _nested_new(tail: str) -> tuple[str, bool] | None:
    """``new FooList(this, "x", true)`` -> (FooOutputReference, is_set)."""
    match = re.search(r"= new (\w+)\(this, \"\w+\"(?:, (true|false))?", tail)
    if not match:
        return None
    cls = match.group(1)
    if cls.endswith("List"):
        return cls[:-4] + "OutputReference", match.group(2) == "true"
    return cls, False


def _computed_type(module: Module, item: Field, depth: int) -> Any:
    map_match = re.search(r"= new cdktn\.(\w+)\(this, ", item.tail)
    if map_match and map_match.group(1) in _MAP_CLASSES:
        return _MAP_CLASSES[map_match.group(1)]
    nested = _nested_new(item.tail)
    if nested is not None and nested[0] in module.classes:
        element = _object_type(module, nested[0], depth + 1)
        if "OutputReference(this" in item.tail and "List(this" not in item.tail:
            return element
        return ["set" if nested[1] else "list", element]
    getter = re.search(r"return this\.(\w+)\(", item.tail)
    if getter and getter.group(1) in _GETTER_TYPES:
        return _GETTER_TYPES[getter.group(1)]
    return "dynamic"


def _object_type(module: Module, class_name: str, depth: int) -> Any:
    if depth > 12:
        return "dynamic"
    fields = module.classes.get(class_name, [])
    return ["object", {f.name: _computed_type(module, f, depth) for f in fields}]


def _attribute_type(module: Module, item: Field, hcl: tuple[bool, str, str] | None) -> Any:
    if hcl is None:
        return _computed_type(module, item, 0)
    _, kind, storage = hcl
    if storage in _SIMPLE_STORAGE:
        element = _SIMPLE_STORAGE[storage]
        return element if kind == "simple" else [kind, element]
    element = _object_type(module, _element_class(storage), 1)
    if kind == "struct":
        return element
    return [kind if kind in ("list", "set", "map") else "list", element]


def build_block(module: Module, class_name: str, depth: int = 0) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = []
    block_types: list[dict[str, Any]] = []
    hcl = module.hcl.get(class_name, {})
    for item in module.classes.get(class_name, []):
        entry = hcl.get(item.name)
        if entry is not None and entry[0] and depth < 20:
            _, kind, storage = entry
            element = _element_class(storage)
            single = f"new {element}(this, " in item.tail
            nesting = {"list": "LIST", "set": "SET", "struct": "SINGLE"}.get(kind, "LIST")
            block_types.append(
                {
                    "type_name": item.name,
                    "nesting": nesting,
                    "min_items": 1 if item.required and nesting != "SINGLE" else 0,
                    "max_items": 1 if single and nesting == "LIST" else 0,
                    "block": build_block(module, element, depth + 1),
                }
            )
            continue
        attributes.append(
            {
                "name": item.name,
                "type": _attribute_type(module, item, entry),
                "required": item.required,
                "optional": item.optional,
                "computed": item.computed,
            }
        )
    return {"attributes": attributes, "block_types": block_types}


def schemas_from_wheel(wheel: str) -> dict[str, Any]:
    result: dict[str, Any] = {"provider": None, "resources": {}, "data_sources": {}}
    with zipfile.ZipFile(wheel) as archive:
        tgz = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        data = archive.read(tgz)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if not (member.name.startswith("package/lib/") and member.name.endswith("/index.js")):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            source = handle.read().decode("utf-8")
            type_match = _TF_TYPE.search(source)
            if type_match is None:
                continue
            module = parse_module(source)
            root = next(
                (n for n, b in module.bodies.items() if _TF_TYPE.search(b) is not None), None
            )
            if root is None:
                continue
            block = build_block(module, root)
            base = module.bases[root]
            name = type_match.group(1)
            if base.endswith("TerraformProvider"):
                result["provider"] = block
            elif base.endswith("TerraformDataSource"):
                result["data_sources"][name] = block
            elif base.endswith("TerraformResource"):
                result["resources"][name] = block
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    schema = schemas_from_wheel(argv[1])
    os.makedirs(os.path.dirname(os.path.abspath(argv[2])), exist_ok=True)
    with open(argv[2], "w", encoding="utf-8") as out:
        json.dump(schema, out, sort_keys=True)
    print(
        f"{argv[2]}: {len(schema['resources'])} resources, "
        f"{len(schema['data_sources'])} data sources",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
