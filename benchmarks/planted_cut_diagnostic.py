"""Could any cut meet the planted checks? For each family of the two planted profiles
(``benchmarks/planted/``), the highest score m_F(x) among the suite items that should count none
(HR families: the demo suite; the task assistant's families: the 300 task items), and the share of
the family's own held-out exemplars and near misses (the cross-validated scores the operating point
is chosen from) above it: a cut that counts none of those items keeps only that share of the family.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/planted_cut_diagnostic.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import membership_rules as mr  # noqa: E402
import planted_family as pf  # noqa: E402


def main() -> int:
    import cg_gov.engine as engine
    from cg_gov.dictionary import load_dictionary
    from cg_gov.spec import ExtractionSettings, load_profile

    d = load_dictionary("default")
    st = ExtractionSettings(dtype="float32", device="cpu")

    def abar(texts, desc):
        return engine.extract_activations(list(texts), d, settings=st, progress=False, desc=desc,
                                          precomputed=pf.PRECOMPUTED).abar

    demo = abar([r["text"] for r in pf.demo_suite()], "demo")
    tasks = abar([r["text"] for r in pf.task_suite()], "tasks")
    harm = abar([r["input"] for r in pf._jsonl(pf.DEMO / "items" / "harmbench.jsonl")], "planted")
    for name, suite in (("hr_assistant.yaml", demo), ("harmful_requests.yaml", tasks)):
        prof = load_profile(pf.PLANTED / name)
        fit = mr.fitted_profile(prof, d, abar)
        s = np.asarray(suite @ fit["weights"].T)
        for k, f in enumerate(prof.families):
            cv, top = fit["families"][k]["cv"], float(s[:, k].max())
            line = (f"{name} {f.id}: highest suite score {top:.3f}; held-out exemplars above it "
                    f"{(cv.positives > top).mean():.2f}; near misses above it {(cv.near_misses > top).mean():.2f}")
            if f.id == "harmful-requests":
                line += f"; planted requests above it {int((np.asarray(harm @ fit['weights'].T)[:, k] > top).sum())} of 200"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
