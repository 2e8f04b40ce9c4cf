#!/usr/bin/env python3
"""Renders docs/configuration.md, the configuration reference, from the
`tollgate` binary's own `--help` (clap prints every flag with its
environment variable, default and possible values), one table per
subcommand.

    scripts/config_reference.py [--bin PATH]          write the reference
    scripts/config_reference.py --check [--bin PATH]  fail, naming the flags, if it is stale

PATH defaults to $TOLLGATE_BIN, else $CARGO_TARGET_DIR/debug/tollgate.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys

from reference_drift import check

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs/configuration.md"
SECTION = re.compile(r"^(\w[\w ]*):$")
OPTION = re.compile(r"^ {2,6}(?:-\w, )?(--[\w-]+)(?: <([\w-]+)>)?(?: {2,}(.*))?$")
POSITIONAL = re.compile(r"^ {2}<([\w-]+)>(?: {2,}(.*))?$")
COMMAND = re.compile(r"^ {2}([\w-]+) {2,}(.*)$")
VALUE_ITEM = re.compile(r"^- ([\w.-]+):\s+(.*)$")
TAG = re.compile(r"\[(env|default|possible values): ([^\]]*)\]")
#: Flags every subcommand has that configure nothing.
SKIPPED = {"--help", "--version"}


def help_text(binary, path):
    # Without the caller's TOLLGATE_* variables: clap would print their values.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env["COLUMNS"] = "1000"
    run = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, env=env, check=True)
    return run.stdout


def sections(text):
    """{section name: its indented lines}, plus "about" and "usage"."""
    out, name = {"about": []}, "about"
    for line in text.splitlines():
        if line.startswith("Usage: "):
            out["usage"] = line[len("Usage: "):].split(" ", 1)[1:]
            continue
        match = SECTION.match(line)
        if match:
            name = match.group(1)
            out[name] = []
        else:
            out.setdefault(name, []).append(line)
    return out


def blocks(lines, head):
    """Groups lines into (head match, following lines) items."""
    items = []
    for line in lines:
        match = head.match(line)
        if match:
            items.append((match, []))
        elif items:
            items[-1][1].append(line)
    return items


def describe(first, rest):
    """Splits an item's text into description, tags and listed values."""
    text, values, listing = [], [], False
    for line in ([first] if first else []) + [r.strip() for r in rest]:
        if line == "Possible values:":
            listing = True
            continue
        item = VALUE_ITEM.match(line)
        if listing and item:
            values.append(f"`{item.group(1)}` ({item.group(2).strip()})")
            continue
        listing = False
        if line:
            text.append(line)
    joined = " ".join(text)
    tags = {key: value for key, value in TAG.findall(joined)}
    description = " ".join(TAG.sub("", joined).split())
    if "possible values" in tags:
        values = [f"`{v.strip()}`" for v in tags["possible values"].split(",")]
    return description, tags, values


def sentence(text):
    return text if not text or text[-1] in ".!?)" else text + "."


def toml_key(env):
    # dataplane/src/app/config.rs load_file_into_env: key → TOLLGATE_<KEY>, '-' → '_'.
    return env[len("TOLLGATE_"):].lower().replace("_", "-") if env.startswith("TOLLGATE_") else ""


def options(lines):
    rows = []
    for match, rest in blocks(lines, OPTION):
        flag, value, first = match.groups()
        if flag in SKIPPED:
            continue
        description, tags, values = describe(first, rest)
        env = tags.get("env", "").split("=")[0]
        key = toml_key(env) if flag != "--config" else ""
        if values:
            description = sentence(description) + f" Values: {', '.join(values)}."
        rows.append({
            "flag": f"`{flag} <{value}>`" if value else f"`{flag}`",
            "env": f"`{env}`" if env else "",
            "toml": f"`{key}`" if key else "",
            "default": f"`{tags['default']}`" if "default" in tags else "",
            "description": description.replace("|", "\\|"),
        })
    return rows


def subcommand(binary, path):
    parts = sections(help_text(binary, path))
    title = " ".join(["tollgate", *path])
    lines = [f"## `{title}`", ""]
    about = " ".join(" ".join(parts["about"]).split())
    if about:
        lines += [about, ""]
    lines += [f"Usage: `{' '.join(['tollgate', *parts.get('usage', [])]).strip()}`", ""]
    for match, rest in blocks(parts.get("Arguments", []), POSITIONAL):
        description, _, values = describe(match.group(2), rest)
        lines += [f"`<{match.group(1)}>`: {description}{' one of ' if description else 'one of '}{', '.join(values)}.", ""]
    rows = options(parts.get("Options", []))
    if rows:
        lines += ["| Flag | Environment variable | TOML key | Default | Description |", "|---|---|---|---|---|"]
        lines += [f"| {r['flag']} | {r['env']} | {r['toml']} | {r['default']} | {r['description']} |" for r in rows]
        lines.append("")
    children = [m.group(1) for m, _ in blocks(parts.get("Commands", []), COMMAND) if m.group(1) != "help"]
    for child in children:
        lines += subcommand(binary, [*path, child])
    return lines


def render(binary):
    lines = [
        "# Configuration reference",
        "",
        "Generated from the `tollgate` binary's `--help` by `scripts/config_reference.py`;",
        "do not edit by hand (the test command fails when it drifts from the code).",
        "",
        "Every setting is a flag, a `TOLLGATE_*` environment variable, or a key of the",
        "TOML file given with `--config FILE` (the long flag name, e.g.",
        "`session-idle-timeout = \"1h\"`; strings, numbers and booleans). Flags win over",
        "the environment, which wins over the file; a bad setting stops the start with a",
        "message naming it. Durations are a number with `s`, `m`, `h` or `d`.",
        "What the settings mean in production: [production.md](production.md).",
        "",
    ]
    top = sections(help_text(binary, []))
    for match, _ in blocks(top.get("Commands", []), COMMAND):
        if match.group(1) != "help":
            lines += subcommand(binary, [match.group(1)])
    return "\n".join(lines).rstrip() + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when docs/configuration.md is stale")
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    parser.add_argument("--bin", default=os.environ.get("TOLLGATE_BIN") or f"{target}/debug/tollgate")
    args = parser.parse_args()
    text = render(args.bin)
    if not args.check:
        REFERENCE.write_text(text)
        return 0
    return check(REFERENCE, text, "scripts/config_reference.py")


if __name__ == "__main__":
    sys.exit(main())
