"""Fetch GraphiQL's files from the npm registry into healthcare/graphql/graphiql/.

The manifest beside the files (`manifest.json`) is the list: each entry names an npm
package, its version, the file inside the package and the SHA-256 of that file. Two modes:

    python scripts/vendor_graphiql.py           # check: fetch every package again with
                                                # `npm pack` and prove that the committed
                                                # files and the manifest match it
    python scripts/vendor_graphiql.py --update  # after editing versions in the manifest:
                                                # copy the files in, record their checksums

To upgrade GraphiQL, change the versions (and paths, if the packages moved their builds)
in the manifest, run `--update`, then `make test` (tests/test_graphiql.py) and the
GraphiQL end-to-end test (web/e2e/browser.test.js), and read the new files' size in the
diff. Only minified production builds, never source maps: the page needs nothing else.
Needs `npm` and access to its registry; the server itself never fetches anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "healthcare" / "graphql" / "graphiql"
MANIFEST = FOLDER / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(spec: str, into: Path) -> tuple[Path, str]:
    """The package's folder, unpacked from the tarball `npm pack` fetched, and the
    tarball's integrity as the registry states it."""
    out = subprocess.run(  # noqa: S603 (a fixed command; the spec comes from the manifest)
        ["npm", "pack", spec, "--json", "--pack-destination", str(into)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
        cwd=into,
    )
    packed = json.loads(out.stdout)[0]
    folder = into / packed["filename"].removesuffix(".tgz")
    with tarfile.open(into / packed["filename"]) as tarball:
        tarball.extractall(folder, filter="data")
    return folder / "package", str(packed["integrity"])


def fetch(manifest: dict[str, dict[str, str | int]], workdir: Path) -> dict[str, bytes]:
    """Each manifest entry's bytes, as published on npm."""
    unpacked: dict[str, tuple[Path, str]] = {}
    files: dict[str, bytes] = {}
    for name, entry in manifest.items():
        spec = f"{entry['package']}@{entry['version']}"
        if spec not in unpacked:
            print(f"npm pack {spec}", file=sys.stderr)
            unpacked[spec] = npm_pack(spec, workdir)
        package, integrity = unpacked[spec]
        entry["tarball_integrity"] = integrity
        files[name] = (package / str(entry["path"])).read_bytes()
    return files


def check(manifest: dict[str, dict[str, str | int]], files: dict[str, bytes]) -> list[str]:
    problems = []
    for name, entry in manifest.items():
        published = sha256(files[name])
        committed = (FOLDER / name).read_bytes() if (FOLDER / name).exists() else b""
        if published != entry["sha256"]:
            problems.append(f"{name}: npm has {published}, the manifest says {entry['sha256']}")
        if sha256(committed) != published:
            problems.append(f"{name}: the committed file differs from {entry['package']}'s")
    return problems


def update(manifest: dict[str, dict[str, str | int]], files: dict[str, bytes]) -> None:
    for stale in FOLDER.iterdir():
        if stale.name != MANIFEST.name and stale.name not in manifest and is_vendored(stale):
            print(f"removing {stale.name}: no longer in the manifest", file=sys.stderr)
            stale.unlink()
    for name, data in files.items():
        (FOLDER / name).write_bytes(data)
        manifest[name]["sha256"] = sha256(data)
        manifest[name]["bytes"] = len(data)
        print(f"{name}: {len(data):,} bytes, sha256 {sha256(data)}", file=sys.stderr)


def is_vendored(path: Path) -> bool:
    """Our own files (the page's script and styles) are named graphiql-page.*."""
    return path.is_file() and not path.name.startswith("graphiql-page.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="copy the files in; record them")
    args = parser.parse_args()
    document = json.loads(MANIFEST.read_text())
    manifest: dict[str, dict[str, str | int]] = document["files"]
    with tempfile.TemporaryDirectory(prefix="vendor-graphiql-") as workdir:
        if shutil.which("npm") is None:
            print("npm is not installed", file=sys.stderr)
            return 2
        files = fetch(manifest, Path(workdir))
    if args.update:
        update(manifest, files)
        MANIFEST.write_text(json.dumps(document, indent=2) + "\n")
        total = sum(len(data) for data in files.values())
        print(f"{len(files)} files, {total:,} bytes in all", file=sys.stderr)
        return 0
    problems = check(manifest, files)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(files)} files match npm and the manifest", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
