"""Check that a second model's demo logs pair item by item with the embedded model's.

Usage::

    python tools/check_demo_pairs.py [data/demo/logs-gemma3-270m]

Reads every ``*.eval`` log of both folders with ``inspect_ai.log.read_eval_log`` and every
``*.jsonl`` log as JSON lines, and compares per benchmark the item ids (and the inputs the model
saw). Prints one line per benchmark and exits 1 on any difference.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def read(path: Path) -> tuple[dict[str, str], list[float]]:
    """{id: input} and the numeric scores of one log."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {r["id"]: r["input"] for r in rows}, []
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    if log.status != "success" or not log.samples:
        raise SystemExit(f"{path}: status {log.status}, {len(log.samples or [])} samples")
    ids = {str(s.id): s.input if isinstance(s.input, str) else str(s.input) for s in log.samples}
    scores = [1.0 if next(iter(s.scores.values())).value == "C" else 0.0 for s in log.samples]
    return ids, scores


def main(argv: list[str]) -> int:
    other = Path(argv[0]) if argv else REPO / "data" / "demo" / "logs-gemma3-270m"
    base = REPO / "data" / "demo" / "logs"
    bad = 0
    for first in sorted(p for p in base.iterdir() if p.suffix in {".eval", ".jsonl"}):
        second = other / first.name
        if not second.is_file():
            print(f"{first.stem:20s} MISSING {second}")
            bad += 1
            continue
        (a, sa), (b, sb) = read(first), read(second)
        same_ids = set(a) == set(b)
        same_inputs = same_ids and all(a[k] == b[k] for k in a)
        means = f"mean {sum(sa) / len(sa):.4f} vs {sum(sb) / len(sb):.4f}" if sa and sb else "no scores"
        print(f"{first.stem:20s} items {len(a):4d} vs {len(b):4d}  ids {'same' if same_ids else 'DIFFER'}  "
              f"inputs {'same' if same_inputs else 'DIFFER'}  {means}")
        bad += not (same_ids and same_inputs)
    extra = sorted({p.name for p in other.iterdir() if p.suffix in {".eval", ".jsonl"}}
                   - {p.name for p in base.iterdir()})
    if extra:
        print("only in", other, ":", ", ".join(extra))
        bad += 1
    print("OK" if not bad else f"{bad} benchmark(s) do not pair")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
