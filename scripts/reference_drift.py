"""What differs between a committed generated reference and a fresh render,
named by table row (the section heading and the row's first cell), for the
`--check` modes of scripts/config_reference.py and scripts/crd_reference.py."""
import difflib
import sys


def table_rows(text):
    """{(section, first cell): row} of the tables whose first cell is code."""
    rows, heading = {}, ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("| `"):
            rows[(heading, line.split(" | ")[0][2:])] = line
    return rows


def drift(old, new):
    """Lines naming each added, removed or changed row; else the changed lines."""
    before, after = table_rows(old), table_rows(new)
    named = [f"{h}: {c} is new" for h, c in after.keys() - before.keys()]
    named += [f"{h}: {c} is gone" for h, c in before.keys() - after.keys()]
    named += [f"{h}: {c} changed" for h, c in after.keys() & before.keys() if after[(h, c)] != before[(h, c)]]
    if named:
        return sorted(named)
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))[2:12]


def check(path, text, command):
    """0 when the committed file at `path` is `text`; else 1 after naming the drift."""
    old = path.read_text() if path.exists() else ""
    if old == text:
        return 0
    print(f"{path.name} is stale: run {command}", file=sys.stderr)
    for line in drift(old, text):
        print(f"  {line}", file=sys.stderr)
    return 1
