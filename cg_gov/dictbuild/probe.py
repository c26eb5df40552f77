"""Choosing the hook layer by measurement.

For windows of each corpus source, the residual stream is mean-pooled at
every layer (and taken at the window's last token), and a ridge-regression
linear probe (5-fold cross-validation) predicts the window's source: what
kind of text it is. From the last token alone this needs the context, so it
measures how much of the window's meaning a layer has gathered. Audits read item
means, so the mean-pooled probe matters most; the last-token probe rises to
the top of the network, where the residual turns to next-token prediction.
The layer chosen is the best average of the two within the middle third of
the network (every layer above the hook costs compute on every item).

    cg-gov dictionary probe [--work DIR] [--per-source 80]
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def ridge_cv_accuracy(x: np.ndarray, y: np.ndarray, folds: int = 5, lam: float = 1.0, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    classes = np.unique(y)
    onehot = (y[:, None] == classes[None, :]).astype(np.float64)
    correct = 0
    for f in range(folds):
        test = perm[f::folds]
        train = np.setdiff1d(perm, test)
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
        xt = (x[train] - mu) / sd
        w = np.linalg.solve(xt.T @ xt + lam * len(train) * np.eye(x.shape[1]), xt.T @ onehot[train])
        pred = classes[np.argmax(((x[test] - mu) / sd) @ w, axis=1)]
        correct += int((pred == y[test]).sum())
    return correct / len(y)


def layer_probe(work: Path | None = None, per_source: int = 50) -> dict:
    """Choose the hook layer: source-probe accuracy of every layer on ``per_source`` windows per
    source of the corpus in ``work`` (default: the newest build's); writes ``layer_probe.json``."""
    import torch

    from cg_gov.dictionary import load_language_model
    from cg_gov.engine import prepare_items
    from cg_gov.io import cache_dir
    from cg_gov.spec import ExtractionSettings

    from .corpus import Window

    work = Path(work) if work else sorted((cache_dir() / "dictbuild").glob("*/corpus.jsonl"))[-1].parent
    windows = [Window(**json.loads(l)) for l in (work / "corpus.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(0)
    by_src: dict[str, list[int]] = {}
    for i, w in enumerate(windows):
        by_src.setdefault(w.source, []).append(i)
    chosen = []
    for src in sorted(by_src):
        members = by_src[src]
        chosen += [members[j] for j in rng.choice(len(members), min(per_source, len(members)), replace=False)]
    model, tok = load_language_model("default", dtype="bfloat16")
    n_layers = model.config.num_hidden_layers
    feats = np.zeros((len(chosen), n_layers - 1, model.config.hidden_size), np.float32)
    last = np.zeros_like(feats)
    for j, i in enumerate(chosen):
        w = windows[i]
        prep = prepare_items(tok, [w.text], [w.response], ExtractionSettings(template=w.template, max_tokens=96))[0]
        m = torch.tensor(prep.counted)
        with torch.inference_mode():
            hs = model(torch.tensor([prep.input_ids]), output_hidden_states=True).hidden_states
        for layer in range(n_layers - 1):   # the last entry is after the final norm
            feats[j, layer] = hs[layer + 1][0][m].float().mean(0).numpy()
            last[j, layer] = hs[layer + 1][0][m][-1].float().numpy()
    y_src = np.array([windows[i].source for i in chosen])
    results = []
    for layer in range(n_layers - 1):
        results.append({"layer": layer, "mean_pooled_accuracy": ridge_cv_accuracy(feats[:, layer], y_src),
                        "last_token_accuracy": ridge_cv_accuracy(last[:, layer], y_src)})
    # Audits read item means of SAE activations, so the mean-pooled probe is the
    # measure of what an item-level concept can carry; the last-token probe
    # measures how much context a layer has gathered (it rises to the top, where
    # the residual turns to next-token prediction). Among the middle third of
    # the network, the layer with the best average of the two is chosen.
    lo, hi = n_layers // 3, (2 * n_layers) // 3
    for r in results:
        r["combined"] = (r["mean_pooled_accuracy"] + r["last_token_accuracy"]) / 2
    middle = [r for r in results if lo <= r["layer"] <= hi]
    best = max(r["combined"] for r in middle)
    pick = min(r["layer"] for r in middle if r["combined"] == best)
    out = {"windows": len(chosen), "results": results, "best_combined": best, "chosen_layer": pick,
           "candidates": [lo, hi], "rule": "middle third of the layers; best mean of the mean-pooled and "
           "last-token source-probe accuracies (5-fold ridge, 50 windows per source)"}
    (work / "layer_probe.json").write_text(json.dumps(out, indent=1))
    return out
