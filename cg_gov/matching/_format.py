"""The text of ``cg-gov match``: which concepts each family of a profile matches."""
from __future__ import annotations

from cg_gov.matching._models import FamilyMatch, ProfileMatch
from cg_gov.text import truncate

__all__ = ["NO_MATCH_MESSAGE", "format_match"]

NO_MATCH_MESSAGE = "no concept in this dictionary matches: the dictionary cannot see this family"


def _fmt(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if sign else f"{value:.3f}"


def _set_aside(fam: FamilyMatch, out: list[str]) -> None:
    if fam.set_aside:
        aside = ", ".join(f"{c.concept_id} {truncate(c.label, 36)!r} (margin {c.margin:+.3f})" for c in fam.set_aside)
        out.append(f"  set aside, may mean the opposite: {aside}")


def _format_family(fam: FamilyMatch, out: list[str]) -> None:
    if fam.method == "detector":
        head = f"{fam.family}  (detector, {len(fam.concepts)} concepts"
    else:
        head = f"{fam.family}  (threshold {fam.threshold:.2f}, top-k {fam.top_k}"
        head += ", exemplar signal" if fam.exemplar_signal else ""
    vis = fam.visibility
    if vis is not None:
        auc = "not measurable" if vis.auroc is None else (
            f"AUROC {vis.auroc:.2f}" + (f" [{vis.ci[0]:.2f}, {vis.ci[1]:.2f}]" if vis.ci else ""))
        head += f"; visibility {vis.status}: {auc}, {vis.n_pos} exemplars vs {vis.n_neg} contrast texts"
    out.append(head + ")")
    if not fam.concepts:
        out.append(f"  {NO_MATCH_MESSAGE}")
        _set_aside(fam, out)
        if fam.nearest:
            near = ", ".join(f"{n.concept_id} {truncate(n.label, 40)!r} "
                             f"({n.score if n.score is not None else n.similarity:.3f})" for n in fam.nearest)
            out.append(f"  closest below the threshold (score): {near}")
        return
    detector = fam.method == "detector"
    col = "effect" if detector else "spec"
    out.append(f"  {'id':>7}  {'label':<48}  {'sim':>6}  {col:>6}  {'margin':>7}  {'source':<8}  {'weight':>6}")
    for c in fam.concepts:
        flag = "  ! low margin" if c.low_margin else ""
        label = truncate(c.label, 48) if c.label else "(unlabelled)"
        if detector:
            spec = "-" if c.effect is None else f"{c.effect:.2f}"
        else:
            spec = "-" if c.specificity is None else (f"{c.specificity:.1f}" if c.specificity < 1000 else ">999")
        out.append(f"  {c.concept_id:>7}  {label:<48}  {_fmt(c.similarity):>6}  {spec:>6}  "
                   f"{_fmt(c.margin, sign=True):>7}  {c.source:<8}  {c.weight:>6.3f}{flag}")
    _set_aside(fam, out)
    for warning in fam.warnings:
        out.append(f"  warning: {warning}")


def format_match(match: ProfileMatch) -> str:
    """The human-readable report printed by ``cg-gov match``."""
    out = [f"profile {match.profile}" + (f" v{match.profile_version}" if match.profile_version else "")
           + f": {len(match.families)} families against {match.n_concepts} concepts",
           f"embedder {match.embedder}; threshold {match.threshold:.2f}, top-k {match.top_k}, "
           f"exemplar weight {match.exemplar_weight:.2f}, margin warning {match.margin_warning:.2f}"]
    if match.dictionary_identity:
        out.append(f"dictionary {match.dictionary_identity[:16]}")
    if match.calibration:
        out.append(f"settings: {match.calibration}")
    for warning in match.warnings:
        out.append(f"warning: {warning}")
    for fam in match.families:
        out.append("")
        _format_family(fam, out)
    out.append("")
    unmatched = match.unmatched
    summary = f"{len(match.families) - len(unmatched)} of {len(match.families)} families matched"
    if unmatched:
        summary += "; not visible in this dictionary: " + ", ".join(unmatched)
    out.append(summary)
    detected = [f for f in match.families if f.method == "detector" and f.visibility is not None]
    if detected:
        counts = {s: sum(1 for f in detected if f.visibility.status == s)
                  for s in ("confirmed", "unconfirmed", "weak", "cannot-tell")}
        out.append(f"family detectors: {len(detected)} families; visibility before the owner's labels: "
                   + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if match.expected_precision is not None and len(detected) < len(match.families):
        recall = f", recall {match.expected_recall:.0%}" if match.expected_recall is not None else ""
        out.append(f"calibration of the similarity settings (families without a detector): on profiles not used "
                   f"to choose them, "
                   f"{match.expected_precision:.0%} of matched concepts fitted their family{recall}; "
                   f"review each match, pin with include, remove with exclude")
    return "\n".join(out) + "\n"
