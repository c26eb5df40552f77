"""The texts the matcher embeds: a family's texts, its negation, and concept labels.

**Labels.** A dictionary's labels come in three shapes, and each is embedded
as the text that carries its meaning:

- ``"lemma: gloss"`` (a WordNet entry such as ``"decline: go down in value"``):
  the gloss alone. The lemma is ambiguous (``decline`` also means *refuse*)
  and pulls every sense of the word towards a family that uses the word; the
  gloss says which sense the concept is. On the held-out half of the
  calibration set this raised the AUC of label similarity from 0.88 to 0.91
  (``benchmarks/matching.py``, ``ablations``).
- ``"token ' Sorry'"`` (a concept that fires on one word piece): the token text.
- anything else: as written, with ``_`` read as a space.

**Negation.** Sentence embeddings barely see polarity: "refuses the request"
and "complies with the request" have a cosine similarity of 0.70 under
all-MiniLM-L6-v2. To tell a concept that names a family from one that names
its opposite, the matcher builds the family's *negation*: its description and
synonyms with each polar word swapped for its antonym by a small, fixed
lexicon (``refuse`` -> ``accept``, ``protect`` -> ``expose``, ``uncertain`` ->
``certain``, ...); a negator before a word (``not revealing``, ``don't know``)
is dropped instead of flipping the word. A text with no polar word has no
negation, and a family none of whose texts has one (``time``, ``billing``)
gets no margin: it has no opposite to confuse.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["ANTONYMS", "family_texts", "label_text", "negate", "negation_texts"]

# Pairs of polar words, both directions unless the pair is marked one-way (">").
# Kept to words whose polarity *is* the family's meaning (conduct, rules, data,
# knowledge, feelings, safety); words about the objects of a request (harmful,
# false) are left alone, so that "declines harmful requests" negates to
# "accepts harmful requests", not to "accepts harmless requests".
_PAIRS = """
refuse accept; refuses accepts; refused accepted; refusing accepting; refusal acceptance; refusals acceptances
decline > accept; declines > accepts; declined > accepted; declining > accepting
reject > accept; rejects > accepts; rejected > accepted; rejecting > accepting; rejection > acceptance
deny > grant; denies > grants; denied > granted; denying > granting; denial > approval
comply violate; complies violates; complied violated; complying violating; compliance violation
compliant > noncompliant; adherence > violation; adhering > violating; adhere > violate
obey disobey; obeys disobeys; obeying disobeying; obedience disobedience
follow > break; follows > breaks; following > breaking; followed > broke
lawful unlawful; allowed forbidden; permitted prohibited; allow forbid; allows forbids
protect expose; protects exposes; protecting exposing; protected exposed; protection exposure
private public; privacy publicity; confidential > public; confidentiality > disclosure
conceal reveal; conceals reveals; concealing revealing; hide > reveal; hiding > revealing
withhold > disclose; withholding > disclosing
safe unsafe; safely unsafely
certain uncertain; certainty uncertainty; sure unsure; confident unconfident; confidence doubt
doubt > confidence; doubts > confidence; hedging asserting; hedge > assert
know > guess; knowing > guessing; knows > guesses; unknown known
apology > blame; apologies > blame; apologise > blame; apologize > blame; apologising > blaming
apologizing > blaming; apologised > blamed; apologized > blamed; sorry > unapologetic
sympathy indifference; empathy > indifference; compassion > cruelty; kind unkind; kindly unkindly
acknowledging ignoring; acknowledge ignore; acknowledges ignores; polite rude; politely rudely
escalate > resolve; escalates > resolves; escalating > resolving; escalated > resolved
escalation > resolution; escalations > resolutions
cite > plagiarize; citing > plagiarizing; citation > plagiarism; citations > plagiarism
attributing > plagiarizing; attribute > plagiarize
honest dishonest; honestly dishonestly; truthful deceptive
"""

# Words that negate the next word; they are dropped (or replaced) instead of flipping it.
_NEGATORS = {
    "not": "", "never": "", "no": "yes", "without": "with",
    "don't": "do", "doesn't": "does", "didn't": "did", "can't": "can", "cannot": "can",
    "won't": "will", "isn't": "is", "aren't": "are", "wasn't": "was",
}


def _build_lexicon() -> dict[str, str]:
    table: dict[str, str] = {}
    for chunk in re.split(r"[;\n]", _PAIRS):
        chunk = chunk.strip()
        if not chunk:
            continue
        one_way = ">" in chunk
        left, right = (part.strip() for part in chunk.split(">")) if one_way else chunk.split()
        table.setdefault(left, right)
        if not one_way:
            table.setdefault(right, left)
    return table


#: Antonym lexicon used by :func:`negate` (lower-case word -> antonym).
ANTONYMS: dict[str, str] = _build_lexicon()

_CLAUSE_BREAK = re.compile(r"[,;:.!?()]")
_CLAUSE_WORDS = {"and", "or", "but", "instead", "while", "whereas"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_TOKEN_LABEL = re.compile(r"^\s*token\s*[:=]?\s*(['\"])(.*)\1\s*$", re.IGNORECASE)
# "lemma: gloss" with a single-word (underscore-joined) lemma, as WordNet entries are written.
_GLOSS_LABEL = re.compile(r"^\s*([A-Za-z][\w'.-]*):\s+(\S.*)$")


def label_text(label: str) -> str:
    """The text embedded for a concept label (see the module docstring)."""
    label = str(label or "").strip()
    if not label:
        return ""
    token = _TOKEN_LABEL.match(label)
    if token:
        text = token.group(2).strip()
        return text or label
    gloss = _GLOSS_LABEL.match(label)
    if gloss:
        return gloss.group(2).strip().replace("_", " ")
    return label.replace("_", " ")


def _match_case(word: str, replacement: str) -> str:
    if not replacement:
        return replacement
    if word.isupper() and len(word) > 1:
        return replacement.upper()
    if word[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def negate(text: str) -> str | None:
    """The text with its polar words swapped for their antonyms, or None if it has none.

    The text is cut into clauses at punctuation and at ``and``/``or``/``but``;
    in each clause the first polar item is negated (a negator is dropped, a
    polar word swapped), so two polar words of one clause do not cancel out.
    ``"refusing a request"`` -> ``"accepting a request"``; ``"not revealing personal
    data"`` -> ``"revealing personal data"``; ``"date and time expressions"`` -> None.
    """
    pieces: list[str] = []
    last = 0
    changed = False
    clause_done = False
    for m in _WORD.finditer(text):
        word = m.group(0)
        key = word.lower().replace("\u2019", "'")
        between = text[last:m.start()]
        pieces.append(between)
        last = m.end()
        if _CLAUSE_BREAK.search(between) or key in _CLAUSE_WORDS:
            clause_done = False
        if not clause_done and key in _NEGATORS:
            pieces.append(_match_case(word, _NEGATORS[key]))
            changed = clause_done = True
        elif not clause_done and key in ANTONYMS:
            pieces.append(_match_case(word, ANTONYMS[key]))
            changed = clause_done = True
        else:
            pieces.append(word)
    pieces.append(text[last:])
    if not changed:
        return None
    out = re.sub(r"\s{2,}", " ", "".join(pieces)).strip()
    out = re.sub(r"\s+([,.;:])", r"\1", out)
    return out or None


def _texts(family: Any, name: str) -> list[str]:
    value = getattr(family, name, None) or []
    return [str(v).strip() for v in value if str(v).strip()]


def family_texts(family: Any) -> list[str]:
    """The family's description, synonyms and exemplars, in that order, without repeats."""
    texts = [str(family.description).strip()] + _texts(family, "synonyms") + _texts(family, "exemplars")
    seen: set[str] = set()
    return [t for t in texts if t and not (t in seen or seen.add(t))]


def negation_texts(family: Any) -> list[str]:
    """Negations of the family's description and synonyms (exemplars are conversation, not definitions)."""
    out: list[str] = []
    for text in [str(family.description).strip()] + _texts(family, "synonyms"):
        neg = negate(text)
        if neg and neg != text and neg not in out:
            out.append(neg)
    return out
