#!/usr/bin/env python3
"""Writes the values table of a chart's README.md from its values.yaml.

A key is documented by a `# -- ` comment right above it (continued by
further `# ` lines); the table lists every documented key with its full
path, its default (as JSON) and the comment. The table sits between the
`<!-- values:begin -->` and `<!-- values:end -->` markers of README.md.

    scripts/chart_readme.py charts/tollgate-operator           # rewrite
    scripts/chart_readme.py --check charts/tollgate-operator   # fail on drift

With `--check`, it also fails when `ci/all-options-values.yaml` of the chart
(rendered by the test command) leaves a documented key out.

A key without a comment, or a comment without a key, is an error: every
value is documented.
"""
import argparse
import json
import re
import sys
from pathlib import Path

import yaml

BEGIN, END = "<!-- values:begin -->", "<!-- values:end -->"
KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")


def documented_keys(text):
    """Yields (path, description, line) for every documented key, in file order."""
    stack = []  # (indent, key, documented)
    comment = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("# -- "):
            comment = [stripped[5:]]
            continue
        if stripped.startswith("#") and comment is not None:
            comment.append(stripped.lstrip("#").strip())
            continue
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        match = KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        # The children of a documented block (a map default) are its value.
        inside_documented = any(documented for _, _, documented in stack)
        stack.append((indent, match["key"], comment is not None))
        is_parent = match["rest"].strip() == ""
        path = ".".join(key for _, key, _ in stack)
        if comment is not None:
            yield path, " ".join(comment), number
            comment = None
        elif not is_parent and not inside_documented:
            raise SystemExit(f"values.yaml:{number}: {path} has no '# -- ' comment")


def lookup(values, path):
    for part in path.split("."):
        values = values[part]
    return values


def table(chart):
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for path, description, _ in documented_keys(text):
        default = json.dumps(lookup(values, path), separators=(", ", ": "))
        rows.append(f"| `{path}` | `{default}` | {description} |")
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", type=Path)
    parser.add_argument("--check", action="store_true", help="fail when README.md is stale")
    args = parser.parse_args()
    readme = args.chart / "README.md"
    current = readme.read_text()
    try:
        head, rest = current.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{readme}: missing the {BEGIN} / {END} markers")
    wanted = f"{head}{BEGIN}\n{table(args.chart)}\n{END}{tail}"
    if args.check:
        options = yaml.safe_load((args.chart / "ci" / "all-options-values.yaml").read_text())
        for path, _, _ in documented_keys((args.chart / "values.yaml").read_text()):
            try:
                lookup(options, path)
            except (KeyError, TypeError):
                print(f"ci/all-options-values.yaml does not set {path}", file=sys.stderr)
                return 1
    if wanted == current:
        return 0
    if args.check:
        print(f"{readme} is stale: run scripts/chart_readme.py {args.chart}", file=sys.stderr)
        return 1
    readme.write_text(wanted)
    print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
