#!/usr/bin/env python3
"""Renders docs/crd-reference.md from the generated CRDs (crds/*.yaml): per
kind, every spec and status field with its type, whether it is required, its
default, its allowed values, its limits and validation rules, and the
schema's description.

    scripts/crd_reference.py          write the reference
    scripts/crd_reference.py --check  fail, naming the fields, if it is stale
"""
import json
import pathlib
import sys

import yaml

from reference_drift import check

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs/crd-reference.md"
LIMITS = ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "pattern")


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def code(value):
    return f"`{json.dumps(value, separators=(',', ':'), ensure_ascii=False)}`"


def type_name(schema):
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    if schema.get("x-kubernetes-preserve-unknown-fields") and "type" not in schema:
        return "any"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {type_name(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {type_name(schema['additionalProperties'])}"
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return kind


def rules(schema):
    """The limits and CEL rules a value must meet, as one cell."""
    found = [f"{name} {schema[name]}" for name in LIMITS if name in schema]
    if schema.get("x-kubernetes-list-type"):
        keys = schema.get("x-kubernetes-list-map-keys")
        found.append(f"list type {schema['x-kubernetes-list-type']}" + (f" (keys {', '.join(keys)})" if keys else ""))
    found += [v.get("message") or v["rule"] for v in schema.get("x-kubernetes-validations", [])]
    return "; ".join(found)


def fields(path, schema, required):
    """Rows for `path` and everything below it, depth first in schema order."""
    row = [
        f"`{path}`",
        cell(type_name(schema)),
        "yes" if required else "",
        code(schema["default"]) if "default" in schema else "",
        ", ".join(code(v) for v in schema["enum"]) if "enum" in schema else "",
        cell(rules(schema)),
        cell(schema.get("description", "")),
    ]
    rows = [row]
    while schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        path, schema = f"{path}[]", schema["items"]
        if "properties" in schema or rules(schema) or "enum" in schema:
            rows.append([f"`{path}`", cell(type_name(schema)), "", "", ", ".join(code(v) for v in schema.get("enum", [])),
                         cell(rules(schema)), cell(schema.get("description", ""))])
    if isinstance(schema.get("additionalProperties"), dict) and "properties" in schema["additionalProperties"]:
        path, schema = f"{path}.<key>", schema["additionalProperties"]
    needed = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        rows += fields(f"{path}.{name}", child, name in needed)
    return rows


def render_kind(crd):
    names = crd["spec"]["names"]
    lines = [f"## {names['kind']}", ""]
    for version in crd["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        short = ", ".join(f"`{n}`" for n in names.get("shortNames", []))
        lines += [
            f"`{crd['spec']['group']}/{version['name']}`, {crd['spec']['scope'].lower()}, "
            f"plural `{names['plural']}`" + (f", short names {short}" if short else "") + ".",
            "",
        ]
        if root.get("description"):
            lines += [cell(root["description"]), ""]
        needed = set(root.get("required", []))
        for part in ("spec", "status"):
            if part not in root.get("properties", {}):
                continue
            lines += [f"### {names['kind']} `{part}`", ""]
            lines += ["| Field | Type | Required | Default | Values | Rules | Description |", "|---|---|---|---|---|---|---|"]
            lines += ["| " + " | ".join(r) + " |" for r in fields(part, root["properties"][part], part in needed)]
            lines.append("")
    return lines


def render():
    crds = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "crds").glob("*.yaml"))]
    # The platform first, then the kinds it serves.
    crds.sort(key=lambda c: (c["spec"]["names"]["kind"] != "Tollgate", c["spec"]["names"]["kind"]))
    lines = [
        "# CRD reference",
        "",
        "Generated from the CRDs in `crds/` (themselves generated from the operator's",
        "Rust types) by `scripts/crd_reference.py`; do not edit by hand (the test",
        "command fails when it drifts). What the operator does with each kind:",
        "[operator.md](operator.md). `[]` in a path is an element of a list,",
        "`<key>` an entry of a map; Rules are the limits and validation rules the API",
        "server enforces.",
        "",
    ]
    lines += [f"- [{c['spec']['names']['kind']}](#{c['spec']['names']['kind'].lower()})" for c in crds] + [""]
    for crd in crds:
        lines += render_kind(crd)
    return "\n".join(lines).rstrip() + "\n"


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        return check(REFERENCE, text, "scripts/crd_reference.py")
    REFERENCE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
