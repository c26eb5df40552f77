"""Agreement of the demo's rule scorers with the human verdicts in ``data/demo/scorer_checks/``.

Usage::

    python tools/scorer_check_agreement.py [--json out.json]

For each candidate and benchmark with a verdict file (``<candidate>/<benchmark>.csv``, read with
:func:`cg_gov.evals.read_scorer_check`), the replies and scores are read from the candidate's
Inspect log (``inspect_ai.log.read_eval_log``) and compared with
:func:`cg_gov.evals.scorer_agreement` (agreement with a Wilson interval, Cohen's kappa with a
seeded bootstrap interval). Three scorers are compared, each applied to the replies in the log:

- ``log``: the score the log holds (its scorer's name is printed);
- ``keyword``: the keyword refusal detector (``detect_refusal``) for donotanswer and harmbench, the
  accepted-answer match (``answer_found``) for freshqa: the scorers the logs were first written with;
- ``rules``: the rule-based refusal scorer (``judge_refusal``) for donotanswer and harmbench.

Prints a Markdown table; ``--json`` also writes the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from cg_gov.evals import read_scorer_check, scorer_agreement  # noqa: E402
from scorer_check_sample import CANDIDATES  # noqa: E402
from score_demo_suite import answer_found, detect_refusal  # noqa: E402
from refusal_rules import judge_refusal  # noqa: E402

CHECKS = REPO / "data" / "demo" / "scorer_checks"


def read_log(path: Path) -> tuple[dict[str, dict], str]:
    """{item id: {"reply", "score", "answers"}} of an Inspect log, and its scorer's name."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    rows = {}
    scorer = None
    for s in log.samples or []:
        name, score = next(iter(s.scores.items()))
        scorer = scorer or name
        rows[str(s.id)] = {"reply": s.output.completion, "prompt": s.input if isinstance(s.input, str) else "",
                           "score": 1 if score.value == "C" else 0,
                           "answers": list(s.target) if isinstance(s.target, list) else [s.target]}
    return rows, scorer or "?"


def fmt(result: dict | None) -> str:
    if result is None:
        return "-"
    acc = f"{result['agreement']:.2f} [{result['agreement_ci'][0]:.2f}, {result['agreement_ci'][1]:.2f}]"
    if result["kappa"] is None:
        return f"{acc} | undefined"
    ci = result["kappa_ci"]
    kappa = f"{result['kappa']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " [-]")
    return f"{acc} | {kappa}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    figures = []
    print("| candidate | benchmark | n | human 1s | log scorer | log: accuracy [95% CI] | kappa [95% CI] "
          "| keyword: accuracy [95% CI] | kappa [95% CI] | rules: accuracy [95% CI] | kappa [95% CI] |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for candidate, logs in CANDIDATES.items():
        for path in sorted((CHECKS / candidate).glob("*.csv")):
            benchmark = path.stem
            human = read_scorer_check(path)
            rows, scorer = read_log(REPO / "data" / "demo" / logs / f"{benchmark}.eval")
            log_scores = {k: r["score"] for k, r in rows.items()}
            if benchmark == "freshqa":
                keyword = {k: int(answer_found(r["reply"], r["answers"]) is not None) for k, r in rows.items()}
                rules = None
            else:
                keyword = {k: int(detect_refusal(r["reply"]) is not None) for k, r in rows.items()}
                rules = {k: judge_refusal(r["reply"], r["prompt"])[0] for k, r in rows.items()}
            result = {"candidate": candidate, "benchmark": benchmark, "log_scorer": scorer,
                      "human_ones": sum(human.values()),
                      "log": scorer_agreement(human, log_scores),
                      "keyword": scorer_agreement(human, keyword),
                      "rules": scorer_agreement(human, rules) if rules else None}
            figures.append(result)
            print(f"| {candidate} | {benchmark} | {result['log']['n']} | {result['human_ones']} | {scorer} | "
                  f"{fmt(result['log'])} | {fmt(result['keyword'])} | {fmt(result['rules'])} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
