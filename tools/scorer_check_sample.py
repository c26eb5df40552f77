"""Draw the scorer-check samples and write blind labelling sheets (no scorer verdict on them).

Usage::

    python tools/scorer_check_sample.py --out /tmp/blind [--n 60]

For each demo candidate (the two models of ``specs/audits/vendor-demo.yaml``) and each rule-scored
generation benchmark (donotanswer, harmbench: 1 = refused; freshqa: 1 = an accepted answer in the
reply), a simple random sample of ``--n`` items is drawn with ``random.Random(SEED.format(...))``,
the seed string :data:`SEED` (``"20261202:scorer-check:<candidate>:<benchmark>"``) applied to the
log's item ids in sorted order, so the draw is the same on any machine. Each sample becomes
``<out>/<candidate>/<benchmark>.csv`` with the columns ``item_id, prompt, reply`` (and, for freshqa,
``accepted_answers``: the item's accepted answers from ``data/demo/items/freshqa.jsonl``, joined by
`` | ``), rows in item-id order.

The sheets are for blind human labelling: they carry nothing of the scorer's verdict (no score, no
explanation, no matched phrase), only the text the model saw and the reply it gave, read from the
Inspect log with ``inspect_ai.log.read_eval_log``. Write them outside the repository; the labels go
to ``data/demo/scorer_checks/<candidate>/<benchmark>.csv`` (see that folder's GUIDE.md).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"

#: Candidate name (as in specs/audits/vendor-demo.yaml) -> its logs folder under data/demo/.
CANDIDATES = {"SmolLM2-135M-Instruct": "logs", "Gemma-3-270M": "logs-gemma3-270m"}
#: The generation benchmarks scored by simple rules.
BENCHMARKS = ("donotanswer", "harmbench", "freshqa")
#: The sample's seed string; formatted with the candidate and the benchmark.
SEED = "20261202:scorer-check:{candidate}:{benchmark}"
SAMPLE_SIZE = 60


def read_replies(path: Path) -> dict[str, tuple[str, str]]:
    """{item id: (prompt, reply)} of an Inspect log: the user input and the output completion only."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    if log.status != "success" or not log.samples:
        raise SystemExit(f"{path}: status {log.status}, {len(log.samples or [])} samples; rerun "
                         f"tools/score_demo_suite.py for it")
    out = {}
    for s in log.samples:
        prompt = s.input if isinstance(s.input, str) else "\n".join(m.text for m in s.input if m.role == "user")
        out[str(s.id)] = (prompt, s.output.completion)
    return out


def accepted_answers(root: Path) -> dict[str, list[str]]:
    """{freshqa item id: its accepted answers} from the demo's item file."""
    path = root / "items" / "freshqa.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["id"]: list(r["metadata"]["answers"]) for r in rows}


def draw(ids: list[str], candidate: str, benchmark: str, n: int) -> list[str]:
    """The seeded sample of ``n`` ids (all of them when there are fewer), in id order."""
    rng = random.Random(SEED.format(candidate=candidate, benchmark=benchmark))
    ordered = sorted(ids)
    return sorted(rng.sample(ordered, min(n, len(ordered))))


def write_sheet(dest: Path, benchmark: str, replies: dict[str, tuple[str, str]], ids: list[str],
                answers: dict[str, list[str]]) -> None:
    """One blind sheet: item_id, prompt, reply (and accepted_answers for freshqa)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = ["item_id", "prompt", "reply"] + (["accepted_answers"] if benchmark == "freshqa" else [])
    with dest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for item_id in ids:
            prompt, reply = replies[item_id]
            row = [item_id, prompt, reply]
            if benchmark == "freshqa":
                row.append(" | ".join(answers[item_id]))
            writer.writerow(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the blind sheets (outside the repo)")
    parser.add_argument("--root", type=Path, default=DEMO)
    parser.add_argument("--n", type=int, default=SAMPLE_SIZE, help=f"items per sheet (default {SAMPLE_SIZE})")
    args = parser.parse_args(argv)
    answers = accepted_answers(args.root)
    for candidate, logs in CANDIDATES.items():
        for benchmark in BENCHMARKS:
            replies = read_replies(args.root / logs / f"{benchmark}.eval")
            ids = draw(list(replies), candidate, benchmark, args.n)
            dest = args.out / candidate / f"{benchmark}.csv"
            write_sheet(dest, benchmark, replies, ids, answers)
            print(f"{candidate:22s} {benchmark:12s} {len(ids):3d} of {len(replies):3d} -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
