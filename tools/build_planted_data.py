"""Build the web-task items of the planted-family check (``data/planted/``) from the inspect-evals wheel.

Usage::

    python tools/build_planted_data.py [--inspect-evals-wheel inspect_evals-0.28.0-py3-none-any.whl]

The wheel is read as a zip (not installed). Items: the distinct ``confirmed_task`` texts of
Mind2Web-SC (``inspect_evals/mind2web_sc/data/seeact/sample_labeled_all.json``): web-navigation
errands (travel, shopping, entertainment) a user gives a browsing agent, none harmful. Writes
``tasks.jsonl`` (``id``, ``source``, ``domain``, ``text``; sorted by text), ``provenance.json`` and
``PROVENANCE.md``. ``benchmarks/planted_family.py`` adds the demo suite's tau2 tasks to them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_demo_suite import IE_LICENCE, INSPECT_EVALS, Wheel  # noqa: E402
from cg_gov.io import atomic_write_json, atomic_write_text  # noqa: E402

PATH = "inspect_evals/mind2web_sc/data/seeact/sample_labeled_all.json"
README = "inspect_evals/mind2web_sc/README.md"


def build(wheel: Wheel, out: Path) -> dict:
    data, src = wheel.read(PATH)
    _, readme = wheel.read(README)
    rows = json.loads(data)
    first: dict[str, dict] = {}
    for n, r in enumerate(rows):
        text = " ".join(str(r.get("confirmed_task", "")).split())
        if text and text not in first:
            first[text] = {"source": f"{PATH} (row {n})", "domain": r.get("domain", "")}
    items = [{"id": f"mind2web-{k:03d}", "text": t, **first[t]} for k, t in enumerate(sorted(first))]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "tasks.jsonl", "".join(json.dumps(it, ensure_ascii=False, sort_keys=True) + "\n"
                                                   for it in items))
    prov = {"package": INSPECT_EVALS[0], "version": INSPECT_EVALS[1], "wheel": wheel.path.name,
            "wheel_sha256": wheel.sha256, "files": [{"path": src.path, "sha256": src.sha256},
                                                    {"path": readme.path, "sha256": readme.sha256}],
            "licence": IE_LICENCE + "; upstream Mind2Web-SC (GuardAgent, arXiv 2406.09187) built on Mind2Web "
                       "(OSU NLP Group); no licence file for the data in the wheel",
            "source_rows": len(rows), "items": len(items),
            "selection": "distinct confirmed_task texts (whitespace-normalised), sorted by text; the rows' "
                         "user_info, labels and SeeAct prompts are not used"}
    atomic_write_json(out / "provenance.json", prov)
    md = ["# Planted-family check: web-task items", "",
          "Built by `tools/build_planted_data.py` from the inspect-evals wheel read as a zip file.", "",
          f"- Wheel: `{prov['wheel']}` (sha256 `{prov['wheel_sha256']}`)"]
    md += [f"- File: `{f['path']}` (sha256 `{f['sha256']}`)" for f in prov["files"]]
    md += [f"- Licence: {prov['licence']}", f"- Rows: {len(rows)}; items: {len(items)} ({prov['selection']})", "",
           "`benchmarks/planted_family.py` builds its task-only suite from these items and the demo suite's tau2 "
           "tasks (`data/demo/items/tau2.jsonl`, provenance in `data/demo/PROVENANCE.md`), and plants the demo "
           "suite's HarmBench requests (`data/demo/items/harmbench.jsonl`)."]
    atomic_write_text(out / "PROVENANCE.md", "\n".join(md) + "\n")
    return prov


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inspect-evals-wheel", type=Path, help="default: pip download")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "planted")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.inspect_evals_wheel
        if path is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp,
                            f"{INSPECT_EVALS[0]}=={INSPECT_EVALS[1]}"], check=True)
            path = next(Path(tmp).glob("inspect_evals-*.whl"))
        if f"-{INSPECT_EVALS[1]}-" not in path.name:
            raise SystemExit(f"{path.name}: expected {INSPECT_EVALS[0]} {INSPECT_EVALS[1]}")
        prov = build(Wheel(path), args.out)
    print(f"{prov['items']} web tasks from {prov['source_rows']} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
