"""DICTIONARY.md: the human-readable card of a built dictionary.

    cg-gov dictionary card --profiles specs/profiles [--dictionary DIR] [--out FILE]

How it was built, its measured quality, 40 concepts drawn at random with
their labels and contexts (so a reader can judge the labels by eye), and the
matchability check: the best matches of every family of the example profiles.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from cg_gov.io import atomic_write_text

def _fmt(x, nd=3):
    return "n/a" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def write_card(folder: Path, out: Path, profiles: list[Path], use_exemplars: bool = True) -> str:
    from cg_gov.dictionary import load_dictionary
    from cg_gov.matching import match_profile
    from cg_gov.spec import load_profile

    d = load_dictionary(folder)
    m = d.manifest
    q = m.get("quality", {})
    lines = [f"# The bundled concept dictionary: `{m.get('name')}`", "",
             "A sparse autoencoder (sae-lens TopK) over the residual stream of the embedded model "
             "SmolLM2-135M-Instruct, with an automatic label per concept. Rebuild it with "
             f"`{m.get('build_command')}` (the recipe is `specs/dictionary/default.yaml`).", "",
             "## How it was built", "",
             f"- **Hook**: {m.get('hook')}.",
             f"- **SAE**: {m.get('architecture')} with {m.get('d_sae')} concepts, k = {m.get('k')}; trained on "
             f"{m.get('training', {}).get('tokens', 0):,} tokens for {m.get('training', {}).get('epochs')} epoch(s).",
             f"- **Identity**: `{d.identity}` (sha256 over the model weights, hook layer, SAE files and labels).",
             ""]
    probe = m.get("layer_probe")
    if probe:
        lines += ["### Choice of the layer", "",
                  "A ridge probe (5-fold) predicted each corpus window's source (11 kinds of text) from "
                  "the residual stream at every layer, mean-pooled over the window's tokens (what an "
                  "item-level concept can carry) and at its last token (how much context the layer has "
                  "gathered; this keeps rising to the top, where the residual turns to next-token "
                  f"prediction). Rule: {probe['rule']}; layers {probe['candidates'][0]}-"
                  f"{probe['candidates'][1]} were candidates. Every layer above the hook costs compute on "
                  "every audited item.", "",
                  "| layer | last-token accuracy | mean-pooled accuracy |", "|---|---|---|"]
        for r in probe["results"]:
            mark = " **(chosen)**" if r["layer"] == probe["chosen_layer"] else ""
            lines.append(f"| {r['layer']}{mark} | {r['last_token_accuracy']:.3f} | {r['mean_pooled_accuracy']:.3f} |")
        lines.append("")
    corpus = m.get("corpus", {})
    lines += ["### Training corpus", "",
              "Windows of about 90 words from text that installs from package registries; half of the "
              "plain-text windows are shown to the model as a user turn of the chat template, as audited "
              "items are. The demo suite's benchmark files are never read, and any window equal to a demo "
              f"item is dropped ({corpus.get('windows_dropped_as_demo_items', 0)} were).", "",
              "| source | package | version | licence | words | windows |", "|---|---|---|---|---|---|"]
    for s in corpus.get("sources", []):
        lines.append(f"| {s['source']} | {s['package']} | {s['version']} | {_md_escape(s['licence'])} | "
                     f"{s['words']:,} | {s['windows']:,} |")
    lines += ["", f"Split (by sha256 of each window): {json.dumps(corpus.get('splits', {}))}.", "",
              "## Measured quality (held-out windows)", "",
              "| measure | value | target |", "|---|---|---|",
              f"| fraction of variance explained | {_fmt(q.get('variance_explained'))} | >= 0.75 |",
              f"| mean L0 (active concepts per token) | {_fmt(q.get('mean_l0'), 1)} | |",
              f"| dead concepts (never fired on held-out tokens) | {_fmt(q.get('dead_fraction'))} | <= 0.10 |",
              f"| label AUROC, mean over labelled concepts | {_fmt(q.get('label_auroc_mean'))} | >= 0.80 |",
              f"| label AUROC, median | {_fmt(q.get('label_auroc_median'))} | |",
              f"| labelled concepts | {q.get('labelled_concepts')} of {d.n_concepts} | |",
              f"| token-level concepts (label names the token) | {q.get('token_level_concepts')} | |",
              f"| held-out tokens | {q.get('heldout_tokens', 0):,} | |", "",
              "Label AUROC: for each concept, its label is embedded (all-MiniLM-L6-v2) and compared with "
              "the half of its top contexts that were not used to choose the label, against 400 contexts "
              "of other concepts; 0.5 is chance.", ""]
    rng = random.Random(0)
    live = [i for i, l in enumerate(d.labels) if l]
    lines += ["## 40 concepts drawn at random", "",
              "Peak token in [brackets]. Judge the labels by eye.", ""]
    for i in sorted(rng.sample(live, min(40, len(live)))):
        info = d.label_info[i]
        lines.append(f"- **{i}**: {_md_escape(d.labels[i])}  (AUROC {_fmt(info.get('confidence'), 2)}, "
                     f"fires on {info.get('fired_share', 0):.2%} of tokens)")
        for ex in info.get("examples", [])[:3]:
            lines.append(f"  - `{_md_escape(ex)[:160]}`")
    calib = d.matching_defaults
    lines += ["", "## Matchability of the example profiles", ""]
    if calib:
        measured = calib.get("measured", {})
        held = measured.get("held_out_profiles", {})
        output = measured.get("matcher_output", {})
        lines += [f"Matcher settings calibrated for this dictionary: threshold {calib.get('threshold')}, "
                  f"exemplar weight {calib.get('exemplar_weight')}, chosen by F1 on "
                  f"{_md_escape(str(calib.get('calibrated_on', '')))} (`{calib.get('command', '')}`). "
                  f"Holding out each example profile in turn: precision {_fmt(held.get('precision'))}, "
                  f"recall {_fmt(held.get('recall'))}, F1 {_fmt(held.get('f1'))}. Of the "
                  f"{output.get('assigned')} concepts it gives the example profiles as they were when the pairs "
                  f"were judged, {output.get('fit')} were judged to fit their family (the tables below match "
                  "today's profiles).", ""]
        bands = measured.get("precision_by_score") or []
        if bands:
            lines += ["| match score | judged pairs | fit |", "|---|---|---|"]
            for b in bands:
                span = f"{b['from']} to {b['to']}" if b.get("to") is not None else f"{b['from']} and above"
                lines.append(f"| {span} | {b['pairs']} | {b['fit']} |")
            lines.append("")
    lines += ["Every family of `specs/profiles/` matched against this dictionary (label similarity"
              + (" and the exemplar signal" if use_exemplars else "") + "), all matched concepts with their "
              "score and source. A family with no match is a finding about this dictionary.", ""]
    exemplar = None
    if use_exemplars:
        from cg_gov.engine import concept_activations

        def exemplar(texts):
            return concept_activations(texts, d, progress=False)
    for p in profiles:
        prof = load_profile(p)
        pm = match_profile(prof, d.labels, exemplar_activations=exemplar, reference_mean=d.reference_mean,
                           dictionary_identity=d.identity, defaults=calib, concept_info=d.label_info,
                           shipped=d.embeddings_dir)
        lines += [f"### {prof.profile} ({p.name})", "", "| family | matches (id: label, score, source) |",
                  "|---|---|"]
        for fm in pm.families:
            if not fm.concepts:
                near = "; ".join(f"{n.concept_id}: {_md_escape(n.label)} "
                                 f"({n.score if n.score is not None else n.similarity:.2f})"
                                 for n in fm.nearest[:2])
                lines.append(f"| {fm.family} | **no match**: the dictionary cannot see this family"
                             + (f" (nearest: {near})" if near else "") + " |")
                continue
            lines.append(f"| {fm.family} | " + "; ".join(
                f"{c.concept_id}: {_md_escape(c.label)} ({c.score if c.score is not None else c.similarity:.2f}, "
                f"{c.source})" for c in fm.concepts) + " |")
        lines.append("")
    text = "\n".join(lines) + "\n"
    atomic_write_text(out, text)
    return text
