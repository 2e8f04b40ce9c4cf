#!/usr/bin/env python3
"""Renders the Environment API reference (docs/environment-api.md) from the
OpenAPI document the service generates (docs/openapi/environment-v3.json).

    scripts/openapi_reference.py          write the reference
    scripts/openapi_reference.py --check  fail if the committed one is stale
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs/openapi/environment-v3.json"
OUT = ROOT / "docs/environment-api.md"
METHODS = ("get", "post", "put", "delete")


def ref_name(schema):
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"[{ref_name(schema.get('items', {}))}]"
    t = schema.get("type", "")
    return "/".join(t) if isinstance(t, list) else t


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def schema_table(name, schema):
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [cell(schema["description"]), ""]
    props = schema.get("properties", {})
    if not props:
        return lines + [f"Type: `{ref_name(schema) or 'object'}`", ""]
    required = set(schema.get("required", []))
    lines += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    for field, p in props.items():
        kind = ref_name(p) or ref_name(next(iter(p.get("oneOf", [])), {})) or "any"
        lines.append(f"| `{field}` | {cell(kind)} | {'yes' if field in required else ''} | {cell(p.get('description', ''))} |")
    return lines + [""]


def render(spec):
    info = spec.get("info", {})
    lines = [
        f"# {info.get('title', 'Environment API')} reference",
        "",
        "Generated from `docs/openapi/environment-v3.json` by `scripts/openapi_reference.py`;",
        "do not edit by hand. The service serves the same document at",
        "`GET /environment/v3/openapi.json`.",
        "",
    ]
    if info.get("description"):
        lines += [info["description"].strip(), ""]
    lines += ["## Endpoints", ""]
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            lines += [f"### `{method.upper()} {path}`", ""]
            summary = op.get("summary") or op.get("description") or ""
            if summary:
                lines += [summary.strip(), ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| Parameter | In | Required | Description |", "|---|---|---|---|"]
                for p in params:
                    lines.append(f"| `{p['name']}` | {p.get('in', '')} | {'yes' if p.get('required') else ''} | {cell(p.get('description', ''))} |")
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                lines += [f"Request body: `{ref_name(body)}`", ""]
            lines += ["| Status | Body | Meaning |", "|---|---|---|"]
            for status, res in op.get("responses", {}).items():
                schema = res.get("content", {}).get("application/json", {}).get("schema", {})
                lines.append(f"| {status} | `{ref_name(schema)}` | {cell(res.get('description', ''))} |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        lines += schema_table(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def main():
    text = render(json.loads(SPEC.read_text()))
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/openapi_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
