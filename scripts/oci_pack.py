#!/usr/bin/env python3
"""Packs a root filesystem into an OCI image archive (one uncompressed
layer) that `ctr images import` reads, without a daemon or a builder.

    oci_pack.py --rootfs DIR --out FILE.tar --tag NAME:TAG [--tag NAME:TAG2]
                [--containerfile Containerfile | --entrypoint PATH]

With --containerfile, the image settings come from the Containerfile of a
`FROM scratch` + `COPY rootfs/ /` image (USER, ENV, EXPOSE, ENTRYPOINT, CMD;
any other instruction is refused), so it stays the one description of the
image. Every tag shares the layer; each gets its own config whose
`org.opencontainers.image.version` label is the tag, so two tags of one
build are two images that differ only in that label. A --failing-tag image
passes an unknown option to the entrypoint, so every command exits non-zero
(a release whose migration fails, for the upgrade tests).
"""

import argparse
import hashlib
import io
import json
import os
import shlex
import sys
import tarfile

LAYER = "application/vnd.oci.image.layer.v1.tar"


def layer_tar(rootfs: str) -> bytes:
    """The rootfs as a tar: owned by root, fixed mtimes, sorted entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for top, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in dirs + sorted(files):
                path = os.path.join(top, name)
                info = tar.gettarinfo(path, os.path.relpath(path, rootfs))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def containerfile_settings(path: str) -> dict:
    """USER, ENV, EXPOSE, ENTRYPOINT and CMD of a scratch Containerfile."""
    config: dict = {}
    lines, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            lines.append(pending + line)
            pending = ""
    for line in lines:
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "FROM" and rest == "scratch":
            continue
        if op == "COPY" and rest.split() == ["rootfs/", "/"]:
            continue
        if op == "USER":
            config["User"] = rest
        elif op == "ENV":
            key, _, value = rest.partition("=")
            config.setdefault("Env", []).append(f"{key}={value}")
        elif op == "EXPOSE":
            for port in rest.split():
                config.setdefault("ExposedPorts", {})[port if "/" in port else port + "/tcp"] = {}
        elif op in ("ENTRYPOINT", "CMD"):
            value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            config["Entrypoint" if op == "ENTRYPOINT" else "Cmd"] = value
        else:
            sys.exit(f"oci_pack: {path}: unsupported instruction {shlex.quote(line)}")
    return config


def digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rootfs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tag", action="append", required=True, help="NAME:TAG, repeatable")
    parser.add_argument("--failing-tag", action="append", default=[],
                        help="NAME:TAG of the same layer whose entrypoint exits non-zero (a bad release), repeatable")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--containerfile")
    source.add_argument("--entrypoint")
    args = parser.parse_args()

    settings = containerfile_settings(args.containerfile) if args.containerfile else {"Entrypoint": [args.entrypoint]}
    settings.setdefault("Env", ["PATH=/usr/local/bin:/usr/bin:/bin"])
    layer = layer_tar(args.rootfs)
    blobs = {digest(layer): layer}
    manifests = []
    for ref in args.tag + args.failing_tag:
        name, _, tag = ref.rpartition(":")
        if not name or "/" in tag:
            sys.exit(f"oci_pack: --tag wants NAME:TAG, not {ref}")
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {**settings, "Labels": {"org.opencontainers.image.version": tag},
                           **({"Entrypoint": [settings["Entrypoint"][0], "--no-such-option"]}
                              if ref in args.failing_tag else {})},
                "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
            },
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
                "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer)}],
            },
            sort_keys=True,
        ).encode()
        blobs[digest(config)] = config
        blobs[digest(manifest)] = manifest
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest(manifest),
                "size": len(manifest),
                "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
            }
        )
    index = json.dumps({"schemaVersion": 2, "manifests": manifests}, sort_keys=True).encode()
    with tarfile.open(args.out, "w") as out:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        for key, data in blobs.items():
            add("blobs/sha256/" + key.removeprefix("sha256:"), data)
    print(f"{args.out}: {', '.join(args.tag)} ({len(layer) // 1024} KiB layer)")


if __name__ == "__main__":
    main()
