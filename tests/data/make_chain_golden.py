"""Regenerates the golden event files in ``tests/data/chain/`` from fixed seeds.

    .venv/bin/python tests/data/make_chain_golden.py          # write the files
    .venv/bin/python tests/data/make_chain_golden.py --check  # exit 1 if they differ

The bytes come from :func:`krapition_app.p2p.testing.golden_cases` (deterministic ed25519), so a
change to any file means the signed event format changed: regenerate only on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from krapition_app.p2p.testing import GOLDEN_NOW_NS, golden_cases

FOLDER = Path(__file__).resolve().parent / "chain"


def manifest() -> dict:
    return {
        "format": "signature(64) || canonical msgpack EventEnvelope; id = BLAKE2b-256(file bytes)",
        "now_ns": GOLDEN_NOW_NS,
        "cases": [
            {"name": c.name, "file": f"{c.name}.bin", "before": list(c.before), "error": c.error,
             "max_event_size": c.max_event_size}
            for c in golden_cases()
        ],
    }


def expected_files() -> dict[str, bytes]:
    files = {f"{c.name}.bin": c.raw for c in golden_cases()}
    files["manifest.json"] = (json.dumps(manifest(), indent=2) + "\n").encode()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = expected_files()
    if args.check:
        stale = [n for n, data in files.items()
                 if not (FOLDER / n).is_file() or (FOLDER / n).read_bytes() != data]
        for name in stale:
            print(f"differs: {name}", file=sys.stderr)
        return 1 if stale else 0
    FOLDER.mkdir(exist_ok=True)
    for name, data in files.items():
        (FOLDER / name).write_bytes(data)
    print(f"wrote {len(files)} files to {FOLDER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
