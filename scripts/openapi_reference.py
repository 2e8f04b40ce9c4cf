#!/usr/bin/env python3
"""Renders the API references (docs/environment-api.md, docs/auth-api.md)
from the OpenAPI documents the service generates (docs/openapi/*.json).

    scripts/openapi_reference.py          write the references
    scripts/openapi_reference.py --check  fail if a committed one is stale
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: (document, reference, where the service serves the document)
DOCUMENTS = (
    ("docs/openapi/environment-v3.json", "docs/environment-api.md", "/environment/v3/openapi.json"),
    ("docs/openapi/auth-v3.json", "docs/auth-api.md", "/auth/v3/openapi.json"),
)
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


def render(spec, source, served_at):
    info = spec.get("info", {})
    lines = [
        f"# {info.get('title', 'API')} reference",
        "",
        f"Generated from `{source}` by `scripts/openapi_reference.py`;",
        "do not edit by hand. The service serves the same document at",
        f"`GET {served_at}`.",
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
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                body = content.get("schema")
                if body and media == "application/json":
                    lines += [f"Request body: `{ref_name(body)}`", ""]
                elif body:
                    lines += [f"Request body ({media}): `{ref_name(body)}`", ""]
            lines += ["| Status | Body | Meaning |", "|---|---|---|"]
            for status, res in op.get("responses", {}).items():
                content = res.get("content", {})
                media = "application/json" if "application/json" in content else next(iter(content), "")
                schema = content.get(media, {}).get("schema", {})
                kind = f"`{ref_name(schema)}`" if media in ("application/json", "") else f"`{ref_name(schema)}` ({media})"
                lines.append(f"| {status} | {kind} | {cell(res.get('description', ''))} |")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        lines += schema_table(name, schema)
    return "\n".join(lines).rstrip() + "\n"


def main():
    stale = 0
    for source, reference, served_at in DOCUMENTS:
        text = render(json.loads((ROOT / source).read_text()), source, served_at)
        out = ROOT / reference
        if "--check" not in sys.argv[1:]:
            out.write_text(text)
        elif not out.exists() or out.read_text() != text:
            print(f"{reference} is stale: run scripts/openapi_reference.py", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
