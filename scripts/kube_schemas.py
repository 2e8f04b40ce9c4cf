#!/usr/bin/env python3
"""Writes kubeconform's JSON schemas (strict, one file per kind) from the
Kubernetes OpenAPI document and from CRD manifests.

    scripts/kube_schemas.py OUT_DIR [--swagger swagger.json] [CRD.yaml ...]

Files are named `<kind>-<group's first label>-<version>.json` (core kinds
`<kind>-<version>.json`), kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}`
layout, so one `-schema-location OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json`
serves built-in kinds and custom resources alike.

Strict means an object schema with `properties` refuses unknown keys (the
API server would drop them silently, which hides typos), as kubeconform's
`-strict` expects of its schemas.
"""
import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}


def file_name(group, version, kind):
    first = group.split(".")[0] if group else ""
    suffix = f"-{first}-{version}" if first else f"-{version}"
    return f"{kind.lower()}{suffix.lower()}.json"


# Keywords whose value is a map of names to schemas (the map is no schema).
SCHEMA_MAPS = ("properties", "patternProperties", "definitions")


def strict(schema):
    """Closes object schemas and spells out int-or-string, recursively.

    Walks schema positions only: a property may be *named* like a keyword
    (JSONSchemaProps has properties `oneOf`, `x-kubernetes-int-or-string`).
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("x-kubernetes-int-or-string") is True or schema.get("format") == "int-or-string":
        rest = {k: v for k, v in schema.items() if k not in ("type", "format", "x-kubernetes-int-or-string")}
        return {**rest, **INT_OR_STRING}
    out = {}
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf") and isinstance(value, (dict, list)):
            out[key] = strict(value)
        else:
            out[key] = value
    if (
        isinstance(out.get("properties"), dict)
        and "additionalProperties" not in out
        and out.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        out["additionalProperties"] = False
    return out


def references(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.split("/")[-1])
        for value in node.values():
            references(value, found)
    elif isinstance(node, list):
        for item in node:
            references(item, found)


def swagger_schemas(swagger):
    definitions = swagger["definitions"]
    special = {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": INT_OR_STRING,
        "io.k8s.apimachinery.pkg.api.resource.Quantity": QUANTITY,
    }
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            # Each file carries the definitions it reaches, so it stands alone.
            needed, todo = set(), [name]
            while todo:
                current = todo.pop()
                if current in needed:
                    continue
                needed.add(current)
                found = set()
                references(definitions[current], found)
                todo.extend(found - needed)
            own = {k: special.get(k, definitions[k]) for k in sorted(needed)}
            document = copy.deepcopy(schema)
            document["definitions"] = own
            document["$schema"] = "http://json-schema.org/schema#"
            # apiVersion and kind must match the kind the file is named for.
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            document.setdefault("properties", {})
            document["properties"]["apiVersion"] = {"type": "string", "enum": [api_version]}
            document["properties"]["kind"] = {"type": "string", "enum": [gvk["kind"]]}
            yield file_name(gvk["group"], gvk["version"], gvk["kind"]), strict(document)


def crd_schemas(path):
    for crd in yaml.safe_load_all(Path(path).read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec["versions"]:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                continue
            document = copy.deepcopy(schema)
            document["$schema"] = "http://json-schema.org/schema#"
            properties = document.setdefault("properties", {})
            properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
            properties["kind"] = {"type": "string", "enum": [kind]}
            # The API server validates metadata itself; CRD schemas leave it open.
            properties["metadata"] = {"type": "object"}
            yield file_name(group, version["name"], kind), strict(document)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--swagger", type=Path, help="Kubernetes api/openapi-spec/swagger.json")
    parser.add_argument("crds", nargs="*", type=Path, help="CRD manifests")
    args = parser.parse_intermixed_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = 0
    sources = []
    if args.swagger:
        sources.append(swagger_schemas(json.loads(args.swagger.read_text())))
    sources.extend(crd_schemas(path) for path in args.crds)
    for source in sources:
        for name, document in source:
            (args.out / name).write_text(json.dumps(document, separators=(",", ":")))
            written += 1
    if written == 0:
        print("kube_schemas: nothing written", file=sys.stderr)
        return 1
    print(f"kube_schemas: {written} schemas in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
