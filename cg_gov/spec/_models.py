"""Deployment profiles and audit specs: their models, loaders and error messages.

Two kinds of YAML files drive cg_gov:

- a **deployment profile** (top key ``profile``) names the concept families that
  a workflow needs, how much each matters and what it requires;
- an **audit spec** (top key ``audit``) names the model under review, its
  benchmark eval logs, the concept dictionary, the profile and the report.

Both are strict pydantic models: an unknown key is an error, never ignored.
Loading a file turns every problem into a :class:`~cg_gov.errors.SpecError`
that names the file, the line and the key path (``families[2].importance``)
and says what is allowed. Relative paths inside a spec are relative to the
folder of the spec file (:func:`resolve_path`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from cg_gov.errors import SpecError
from cg_gov.spec._document import (
    ConceptId,
    Device,
    Loc,
    NonEmptyStr,
    Problems,
    Slug,
    SpecDocument,
    parse_model,
    raise_errors,
    read_spec_document,
    short_repr,
)

__all__ = [
    "IMPORTANCE_LEVELS",
    "RECORDED_SETTINGS",
    "AuditSpec",
    "BenchmarkSpec",
    "ConceptFamily",
    "DictionarySpec",
    "EvalLogSpec",
    "ExtractionSettings",
    "FieldMap",
    "MatchingSettings",
    "Profile",
    "ReferenceSpec",
    "ReportSpec",
    "Requirement",
    "RunSettings",
    "SaeSpec",
    "ScoringSettings",
    "json_schema",
    "load_audit",
    "load_audit_with_profile",
    "load_profile",
    "resolve_path",
    "spec_kind",
]

Importance = Literal["critical", "high", "medium", "low"]
#: Importance levels, most important first.
IMPORTANCE_LEVELS: tuple[str, ...] = get_args(Importance)

EvalFormat = Literal["jsonl", "lm-eval", "inspect"]
#: A behaviour id: what a benchmark's score measures and what a family expects.
Behaviour = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", min_length=1, max_length=64)]
#: How a benchmark's per-item score is decided.
ScorerKind = Literal["exact-match", "keyword", "rule-based", "classifier", "log-likelihood", "model-graded", "human",
                     "other"]
#: The built-in behaviour vocabulary (a profile's ``behaviours`` adds to it).
DEFAULT_BEHAVIOURS: dict[str, str] = {
    "refuses": "declines a request it should not fulfil",
    "answers-correctly": "gives the correct answer",
    "escalates": "hands the conversation to a human when it should",
    "protects-personal-data": "keeps personal data from people who may not have it",
    "follows-policy": "applies the stated policy exactly",
    "states-uncertainty": "says it does not know or cannot check, instead of guessing",
    "shows-empathy": "acknowledges the person's situation and feelings",
}
ReportFormat = Literal["html", "pdf", "json"]
#: What an audit writes when its spec names no ``report.formats``.
DEFAULT_REPORT_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "json")


def unknown_behaviour(value: str, vocabulary: dict[str, str]) -> str:
    """The message for a behaviour id outside the vocabulary, with a did-you-mean."""
    import difflib

    close = difflib.get_close_matches(value, list(vocabulary), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"unknown behaviour {value!r}; {hint}known: {', '.join(sorted(vocabulary))} (a profile adds its own "
            "under `behaviours:`)")


def _duplicate_problems(values: list[Any], list_name: str, item_key: str | None, what: str) -> list[tuple[Loc, str]]:
    """Problems for repeated values in a list, located at the repeat (relative to the list)."""
    first: dict[Any, int] = {}
    problems: list[tuple[Loc, str]] = []
    for index, value in enumerate(values):
        if value is None or isinstance(value, (dict, list)):
            continue
        if value in first:
            where = (index, item_key) if item_key else (index,)
            problems.append((where, f"duplicate {what} {short_repr(value)} (first at {list_name}[{first[value]}])"))
        else:
            first[value] = index
    return problems


def _pin_problems(include: list[Any], exclude: list[Any]) -> list[tuple[Loc, str]]:
    """Problems of a family's include/exclude lists, relative to the family."""
    problems = [(("include",) + loc, msg) for loc, msg in _duplicate_problems(include, "include", None, "concept")]
    problems += [(("exclude",) + loc, msg) for loc, msg in _duplicate_problems(exclude, "exclude", None, "concept")]
    included = {c for c in include if isinstance(c, int)}
    for index, concept in enumerate(exclude):
        if isinstance(concept, int) and concept in included:
            problems.append((("exclude", index), f"concept {concept} is both included and excluded"))
    return problems


def _raw_list(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def _raw_field(items: list[Any], key: str) -> list[Any]:
    return [item.get(key) if isinstance(item, dict) else None for item in items]


def _prefixed(prefix: Loc, problems: list[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    return [(prefix + loc, message) for loc, message in problems]


class _Spec(BaseModel):
    """Base of every spec model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# ---------------------------------------------------------------------------
# Deployment profile
# ---------------------------------------------------------------------------


class Requirement(_Spec):
    """What the deployment requires of one concept family."""

    coverage: float | None = Field(
        default=None,
        gt=0,
        description="Minimum coverage ratio of the family: the share of suite items that exercise it "
        "divided by the share of workload items that do (1.0 = the suite tests it as often as the "
        "workload needs it). Needs a workload sample (the audit's `reference:`); without one it cannot "
        "be checked. Use min_items to state an absolute minimum.",
    )
    min_items: int | None = Field(
        default=None,
        ge=1,
        description="Minimum number of suite items that exercise the family (detected by its detector, "
        "or estimated from the owner's confirmed sample).",
    )
    performance: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum saliency-weighted performance of the model on the family's items, "
        "in [0, 1] (the benchmarks' own scores, 1 = all correct).",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Requirement:
        if self.coverage is None and self.performance is None and self.min_items is None:
            raise ValueError("must set at least one of coverage, min_items, performance")
        return self


class ConceptFamily(_Spec):
    """A group of related concepts that the workflow needs, described in words."""

    id: Slug = Field(description="Identifier of the family, a slug unique within the profile (e.g. 'refusal').")
    title: NonEmptyStr | None = Field(
        default=None, description="Human-readable name shown in reports; defaults to the id."
    )
    description: NonEmptyStr = Field(
        description="What the family covers, in one or two sentences; the matcher embeds this text."
    )
    synonyms: list[NonEmptyStr] = Field(
        default_factory=list, description="Other words and short phrases for the family, used by the matcher."
    )
    exemplars: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Short example texts (conversation snippets) where the family matters; the matcher "
        "looks at which concepts they activate.",
    )
    counter_exemplars: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Near misses: short texts that look like the family but must not count as it (for a "
        "refusal family, a refund granted politely). The family's concept detector is fitted to tell the "
        "exemplars from these, from the other families' exemplars and from the dictionary's reference text.",
    )
    importance: Importance = Field(
        description="How much the workflow depends on the family: critical, high, medium or low. "
        "Drives the severity of findings."
    )
    require: Requirement | None = Field(
        default=None, description="Minimum coverage and/or performance the deployment requires."
    )
    expects: list[Behaviour] | Behaviour = Field(
        default_factory=list,
        description="The behaviour (or behaviours) the family requires of the model, as ids of the "
        "behaviour vocabulary (e.g. refuses, escalates, answers-correctly). The family's score uses only "
        "benchmarks whose `measures` is one of these; with none stated, every scored benchmark counts "
        "and the report says the score blends scorers.",
    )
    include: list[ConceptId] = Field(
        default_factory=list, description="Concept ids always assigned to the family, whatever the matcher finds."
    )
    exclude: list[ConceptId] = Field(
        default_factory=list, description="Concept ids never assigned to the family, whatever the matcher finds."
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Cosine-similarity threshold for this family; overrides matching.threshold.",
    )
    top_k: int | None = Field(
        default=None, ge=1, description="Maximum number of matched concepts for this family; overrides matching.top_k."
    )

    @field_validator("expects", mode="before")
    @classmethod
    def _expects_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_pins(self) -> ConceptFamily:
        problems = _pin_problems(self.include, self.exclude)
        if problems:
            raise Problems(problems)
        return self

    @property
    def display_name(self) -> str:
        """The title, or the id made readable."""
        return self.title or self.id.replace("-", " ").replace("_", " ").capitalize()


class MatchingSettings(_Spec):
    """How the matcher maps families to concepts."""

    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Minimum match score of a concept: the cosine similarity between the family's text (the "
        "centroid of its description, synonyms and exemplars) and the concept (its label, top contexts and top "
        "tokens), plus the exemplar bonus. Unset: the value calibrated for the dictionary (its manifest's "
        "matching.threshold), else the matcher's fallback for descriptive labels. Raise it for fewer, surer "
        "matches; README.md gives the calibration.",
    )
    method: Literal["detector", "similarity"] = Field(
        default="detector",
        description="How a family's concepts are chosen. 'detector': fitted on the family's exemplars against "
        "its counter_exemplars, the other families' exemplars and the dictionary's reference text, with label "
        "similarity as a prior, and checked by cross-validation (the family's visibility); families without "
        "exemplars fall back to 'similarity': label similarity above the threshold, top_k concepts.",
    )
    top_k: int = Field(default=8, ge=1, description="Maximum number of concepts matched to each family by "
                       "similarity (the detector keeps its own number, DetectorSettings.top_k).")
    embedder: NonEmptyStr = Field(
        default="default",
        description="Sentence embedder: 'default' (the bundled all-MiniLM-L6-v2) or a path to a local "
        "sentence-transformers model folder, relative to the profile file.",
    )
    use_exemplars: bool = Field(
        default=True, description="Also weight concepts by how strongly the family's exemplars activate them."
    )
    exemplar_weight: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="How much the exemplar signal adds to a concept's label similarity: score = similarity + "
        "exemplar_weight x (1 - 1/specificity), compared against the threshold; 0 ignores exemplars. Unset: "
        "the dictionary's calibrated value (its manifest's matching.exemplar_weight), else the matcher's fallback.",
    )
    margin_warning: float = Field(
        default=-0.056,
        ge=-1,
        le=1,
        description="Flag a matched concept whose margin (similarity to the family minus similarity to the "
        "family's negation, its polar words swapped for antonyms) is below this: it may be the family's "
        "opposite. The default is minus twice the margin's noise: the median jackknife standard error over "
        "a family's polar texts is 0.028 (benchmarks/margin_noise.py), so a margin closer to 0 says nothing.",
    )
    low_margin: Literal["drop", "flag"] = Field(
        default="flag",
        description="What to do with a concept whose margin is below margin_warning: 'drop' sets it aside "
        "(listed, with weight 0, and the next concept takes its place) or 'flag' keeps it with a warning.",
    )


class Profile(_Spec):
    """A deployment profile: the concept families a workflow needs."""

    profile: Slug = Field(description="Identifier of the profile, a slug (e.g. 'customer-support').")
    title: NonEmptyStr | None = Field(default=None, description="Human-readable name of the workflow.")
    version: NonEmptyStr = Field(description='Version of the profile (quote it in YAML, e.g. "1.2").')
    owner: NonEmptyStr = Field(description="Team or person accountable for the profile.")
    description: NonEmptyStr = Field(description="The workflow the profile describes and why these families matter.")
    families: list[ConceptFamily] = Field(min_length=1, description="The concept families the workflow needs.")
    behaviours: dict[Behaviour, NonEmptyStr] = Field(
        default_factory=dict,
        description="Behaviours the profile's families may expect, id -> what a score of 1 means, added to "
        "the built-in vocabulary (" + ", ".join(DEFAULT_BEHAVIOURS) + ").",
    )
    scorer_agreement_floor: float = Field(
        default=0.9, ge=0, le=1,
        description="A family whose score rests on a benchmark whose scorer agreed with human verdicts "
        "less often than this (its scorer_check) is flagged.",
    )
    matching: MatchingSettings = Field(
        default_factory=MatchingSettings, description="Settings of the family-to-concept matcher."
    )

    _source_file: Path | None = PrivateAttr(default=None)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        if isinstance(value, float):
            # YAML reads an unquoted 1.10 as the number 1.1: the version written is lost
            raise ValueError(f"an unquoted version is read as a number ({value!r}; 1.10 would become 1.1); "
                             "quote it as written, e.g. version: \"1.10\"")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _known_behaviours(self) -> "Profile":
        vocabulary = self.behaviour_vocabulary()
        problems: list[tuple[Loc, str]] = []
        for i, fam in enumerate(self.families):
            for j, b in enumerate(fam.expects):
                if b not in vocabulary:
                    problems.append((("families", i, "expects", j), unknown_behaviour(b, vocabulary)))
        if problems:
            raise Problems(problems)
        return self

    @field_validator("families")
    @classmethod
    def _unique_family_ids(cls, families: list[ConceptFamily]) -> list[ConceptFamily]:
        problems = _duplicate_problems([f.id for f in families], "families", "id", "family id")
        if problems:
            raise Problems(problems)
        return families

    @classmethod
    def raw_problems(cls, data: Any) -> list[tuple[Loc, str]]:
        """Rules across families, checked on raw YAML data (see cg_gov.spec._document.parse_model)."""
        families = _raw_list(data, "families")
        problems = _prefixed(
            ("families",), _duplicate_problems(_raw_field(families, "id"), "families", "id", "family id")
        )
        for index, family in enumerate(families):
            if isinstance(family, dict):
                pins = _pin_problems(_raw_list(family, "include"), _raw_list(family, "exclude"))
                problems += _prefixed(("families", index), pins)
        return problems

    @property
    def source_file(self) -> Path | None:
        """The file the profile was loaded from, if any."""
        return self._source_file

    def behaviour_vocabulary(self) -> dict[str, str]:
        """The built-in behaviours and the profile's own, id -> description."""
        return {**DEFAULT_BEHAVIOURS, **self.behaviours}

    def family(self, family_id: str) -> ConceptFamily:
        """The family with this id (KeyError if none)."""
        for family in self.families:
            if family.id == family_id:
                return family
        raise KeyError(family_id)

    def resolve(self, p: str | os.PathLike) -> Path:
        """A path written in the profile, resolved against the profile's folder."""
        return resolve_path(self._source_file or Path("profile.yaml"), p)


# ---------------------------------------------------------------------------
# Audit spec
# ---------------------------------------------------------------------------


class SaeSpec(_Spec):
    """Where the sparse autoencoder comes from: a local folder, or a sae-lens release."""

    path: NonEmptyStr | None = Field(
        default=None, description="Local sae-lens SAE folder (SAE.load_from_disk), relative to the audit file."
    )
    release: NonEmptyStr | None = Field(default=None, description="sae-lens release name (SAE.from_pretrained).")
    sae_id: NonEmptyStr | None = Field(default=None, description="SAE id within the release.")

    @model_validator(mode="after")
    def _one_source(self) -> SaeSpec:
        if self.path is not None and (self.release is not None or self.sae_id is not None):
            raise ValueError("set either path, or release and sae_id, not both")
        if self.path is None:
            if self.release is None and self.sae_id is None:
                raise ValueError("must set path, or release and sae_id")
            if self.release is None or self.sae_id is None:
                missing = "release" if self.release is None else "sae_id"
                raise Problems([((missing,), "required with " + ("sae_id" if missing == "release" else "release"))])
        return self


class DictionarySpec(_Spec):
    """A concept dictionary: a language model, a hook layer, a sparse autoencoder and its labels."""

    name: NonEmptyStr | None = Field(default=None, description="Short name of the dictionary in reports.")
    model: NonEmptyStr = Field(
        default="default",
        description="Language model whose activations are read: 'default' (the embedded "
        "SmolLM2-135M-Instruct) or a local transformers model folder, relative to the audit file.",
    )
    gguf_file: NonEmptyStr | None = Field(
        default=None, description="Name of a GGUF weights file inside the model folder, if the model is GGUF."
    )
    hook_layer: int = Field(ge=0, description="Index of the transformer layer whose output the SAE reads.")
    sae: SaeSpec = Field(description="The sparse autoencoder.")
    labels: NonEmptyStr = Field(description="File of concept labels, relative to the audit file.")
    labels_format: Literal["neuronpedia", "csv", "cg_gov"] | None = Field(
        default=None,
        description="Format of the labels file: 'neuronpedia' (jsonl export with index and description), "
        "'csv' (index,label) or 'cg_gov' (cg_gov's own jsonl). When omitted: 'csv' for a .csv file, else "
        "'neuronpedia' when the rows carry 'description', else 'cg_gov' (cg_gov.dictionary.labels_format).",
    )



class FieldMap(_Spec):
    """Which record fields of an eval log hold the item id, text and score."""

    id: NonEmptyStr = Field(default="id", description="Field holding the item id.")
    input: NonEmptyStr = Field(default="input", description="Field holding the text the model saw (the prompt).")
    score: NonEmptyStr = Field(default="score", description="Field holding the per-item score in [0, 1].")
    response: NonEmptyStr | None = Field(
        default=None, description="Field holding the model's response, when it should be read too."
    )
    target: NonEmptyStr | None = Field(default=None, description="Field holding the expected answer, if any.")


class EvalLogSpec(_Spec):
    """An eval log: where it is and how to read it."""

    name: NonEmptyStr = Field(description="Name of the benchmark or sample.")
    log: NonEmptyStr = Field(description="Eval log file or folder, relative to the audit file.")
    format: EvalFormat = Field(
        description="Log format: 'jsonl' (one record per item), 'lm-eval' (lm-evaluation-harness samples) "
        "or 'inspect' (Inspect AI .eval/.json log)."
    )
    fields: FieldMap = Field(default_factory=FieldMap, description="Record fields, for jsonl logs.")


class BenchmarkSpec(EvalLogSpec):
    """One benchmark of the suite, with its per-item scores."""

    # optional here (a vendor audit's models name their own logs), required in an EvalLogSpec
    log: NonEmptyStr | None = Field(  # type: ignore[assignment]
        default=None,
        description="Eval log file or folder, relative to the audit file. Required with 'model'; "
        "left out with 'models', where each model names its own log of this benchmark.",
    )

    filter: NonEmptyStr | None = Field(
        default=None, description="lm-eval filter whose results are read (e.g. 'strict-match')."
    )
    metric: NonEmptyStr | None = Field(
        default=None, description="lm-eval or Inspect metric used as the per-item score (e.g. 'exact_match')."
    )
    epochs: Literal["mean"] | Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="For logs with several epochs per item: 'mean' averages them, an integer picks one epoch.",
    )
    description: NonEmptyStr | None = Field(default=None, description="What the benchmark tests, for the report.")
    measures: Behaviour | None = Field(
        default=None,
        description="The behaviour the benchmark's score measures (1 = the model did it), an id of the "
        "profile's behaviour vocabulary; families that expect it are scored on this benchmark's items. "
        "Left out: the benchmark counts for coverage only (and for families that state no `expects`).",
    )
    scorer: ScorerKind | None = Field(
        default=None, description="How the score was decided: " + ", ".join(get_args(ScorerKind)) + "."
    )
    scorer_check: NonEmptyStr | None = Field(
        default=None,
        description="CSV of human verdicts on a sample of this benchmark's items (columns item_id, verdict "
        "0/1), relative to the audit file; the report gives the scorer's agreement and Cohen's kappa.",
    )

    @field_validator("epochs", mode="before")
    @classmethod
    def _check_epochs(cls, value: Any) -> Any:
        if value is None or value == "mean":
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ValueError(f"must be 'mean' or an integer epoch number >= 0 (got {short_repr(value)})")


class FamilyTag(_Spec):
    """Items a log declares as a family's: members by declaration, beside the detector's count."""

    family: Slug = Field(description="The profile's family the items belong to.")
    benchmarks: list[NonEmptyStr] = Field(
        default_factory=list, description="Benchmarks whose items the tag covers (every benchmark when empty); "
        "without `field`, every item of these benchmarks is declared the family's.")
    field: NonEmptyStr | None = Field(
        default=None, description="An item metadata field (Inspect sample metadata, a JSONL field kept in metadata, "
        "an lm-eval doc field) whose value declares membership.")
    values: list[NonEmptyStr] = Field(
        default_factory=list, description="The values of `field` that declare an item the family's.")

    @model_validator(mode="after")
    def _complete(self) -> "FamilyTag":
        if (self.field is None) != (not self.values):
            raise ValueError("give `field` and `values` together (or neither, to declare whole benchmarks)")
        if self.field is None and not self.benchmarks:
            raise ValueError("name the benchmarks, or a field and its values, that declare the family's items")
        return self


class ReferenceSpec(EvalLogSpec):
    """A sample of the deployment's real workload; its scores are not needed."""

    name: NonEmptyStr = Field(default="workload", description="Name of the reference sample.")


class ReportSpec(_Spec):
    """Which report files to write, and where."""

    formats: list[ReportFormat] = Field(
        default_factory=lambda: list(DEFAULT_REPORT_FORMATS),
        min_length=1,
        description="Report formats to write: any of html, pdf, json.",
    )
    out: NonEmptyStr | None = Field(
        default=None,
        description="Output folder, relative to the audit file. Default: reports/<audit id> in the "
        "current working folder.",
    )

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, formats: list[str]) -> list[str]:
        problems = _duplicate_problems(formats, "formats", None, "format")
        if problems:
            raise Problems(problems)
        return formats


class RaySettings(_Spec):
    """Where and how ``executor: ray`` runs the extraction (a Ray Data actor pool)."""

    address: NonEmptyStr = Field(
        default="local",
        description="Ray cluster: 'local' (a cluster on this machine, started for the run unless one is "
        "already running in this process), 'auto' (the cluster this machine belongs to, e.g. after "
        "`ray start --head`), or an address such as ray://head:10001.",
    )
    actors: int = Field(default=1, ge=1, description="Actors in the pool; each loads the model and SAE once.")
    cpus_per_actor: float = Field(default=1.0, gt=0, description="CPUs reserved per actor (its torch threads).")
    gpus_per_actor: float = Field(default=0.0, ge=0, description="GPUs per actor (set device: cuda with it).")


class ExtractionSettings(_Spec):
    """How activations are extracted from the language model."""

    template: Literal["raw", "user", "user_assistant"] = Field(
        default="user",
        description="How item text is presented: 'raw' text, as a 'user' chat turn, or as a "
        "'user_assistant' exchange with the response.",
    )
    exclude_special_tokens: bool = Field(
        default=True, description="Leave BOS and chat-template tokens out of the per-item mean."
    )
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description="Model dtype. 'auto' measures a few matmuls of the model's shapes once per machine "
        "(CPU model + torch version, cached) and takes bfloat16 only where it is clearly faster there "
        "(e.g. AMX, GPUs), else float32. float32 is the reproducible choice: the same findings on every "
        "machine.",
    )
    device: Device = Field(default="cpu", description="Device: cpu, cuda, cuda:N or mps.")
    batch_size: int = Field(default=16, ge=1, description="Items per forward pass.")
    max_tokens: int = Field(default=256, ge=1, description="Items are truncated to this many tokens.")
    threads: Literal["auto"] | Annotated[int, Field(ge=1)] = Field(
        default="auto",
        description="CPU threads of the forward pass. 'auto' is chosen once per machine by measurement: "
        "the count whose throughput holds best when another process competes for the cores.",
    )

    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where the forward passes run: 'local' (this process) or 'ray' (a Ray Data actor pool, "
        "`pip install 'cg-gov[ray]'`); both fill the same activation cache.",
    )
    ray: RaySettings = Field(default_factory=RaySettings, description="Settings of executor: ray.")
    precomputed: NonEmptyStr | None = Field(
        default=None,
        description="Activations computed ahead for this suite's items (a file written by "
        "`cg-gov activations export`; relative paths are read from the spec's folder). Items whose "
        "dictionary, settings and text match an entry are taken from it, before the cache (and copied "
        "into the cache); the others come from the cache or are computed. The file's sha256 and the count taken "
        "are recorded in the manifest.",
    )

    def cache_key(self) -> dict[str, Any]:
        """The settings that change the numbers (device, batch size, threads, executor and where
        precomputed activations come from do not): part of every cache key. The engine resolves
        ``dtype: auto`` to the dtype it runs before it takes the key."""
        return self.model_dump(exclude={"device", "batch_size", "threads", "executor", "ray", "precomputed"})


class ScoringSettings(_Spec):
    """Statistics of concept and family scores. Every bound of a scoring option is a bound here: the
    scoring functions check their keyword options against these fields (no infinity, no NaN)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    n_min: int = Field(
        default=50, ge=1, description="Items with a concept active needed to call it supported in a benchmark."
    )
    min_benchmarks: int = Field(
        default=5, ge=1, description="Benchmarks a concept must be supported in for the suite ranking."
    )
    ratio_k: float = Field(
        default=4.0, gt=1, description="A concept is under-represented at ratio <= 1/k, over-represented at >= k."
    )
    bootstrap: int = Field(
        default=1000, ge=0, description="Bootstrap resamples for confidence intervals (0 skips them)."
    )
    subsample_reruns: int = Field(
        default=100, ge=0, description="Reruns of the random-subsampling robustness check (0 skips it)."
    )
    subsample_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Fraction of each benchmark dropped in each rerun."
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level (two-sided intervals, Benjamini-Hochberg)."
    )
    seed: int = Field(default=0, ge=0, description="Seed of bootstraps and subsampling.")
    epsilon: float = Field(
        default=0.0, ge=0, description="Mean activation at or below which a concept counts as missing."
    )
    lift_p_method: Literal["normal", "bootstrap"] = Field(
        default="normal",
        description="How a lift's p-value is computed: 'normal' (from the bootstrap's standard error) or "
        "'bootstrap' (the fraction of resamples on the other side of 0, never below 1/(B+1), so with "
        "thousands of concepts Benjamini-Hochberg could not reject).",
    )

    @classmethod
    def field_of(cls, keyword: str) -> str:
        """The field a keyword option of the scoring functions sets: the field of that name, or the one
        ``findings.json`` records under that name (``n_bootstrap`` is ``bootstrap``)."""
        if keyword in cls.model_fields:
            return keyword
        section, name = RECORDED_SETTINGS.get(keyword, (None, keyword))
        if section != "scoring":
            raise KeyError(keyword)
        return name


#: The keys of ``findings.json``'s ``settings`` block (its shape since schema 1), each with the section of
#: :class:`RunSettings` and the field that holds its value: the one place where the file's names meet the
#: spec's (``k`` is ``scoring.ratio_k``, ``n_bootstrap`` is ``scoring.bootstrap``). A section of None is a
#: field of RunSettings itself.
RECORDED_SETTINGS: dict[str, tuple[str | None, str]] = {
    "n_min": ("scoring", "n_min"),
    "min_benchmarks": ("scoring", "min_benchmarks"),
    "k": ("scoring", "ratio_k"),
    "n_bootstrap": ("scoring", "bootstrap"),
    "alpha": ("scoring", "alpha"),
    "seed": ("scoring", "seed"),
    "epsilon": ("scoring", "epsilon"),
    "subsample_reruns": ("scoring", "subsample_reruns"),
    "subsample_fraction": ("scoring", "subsample_fraction"),
    "lift_p_method": ("scoring", "lift_p_method"),
    "extraction_template": ("extraction", "template"),
    "extraction_dtype": ("extraction", "dtype"),
    "max_tokens": ("extraction", "max_tokens"),
    "matching_threshold": ("matching", "threshold"),
    "matching_top_k": ("matching", "top_k"),
    "matching_exemplar_weight": ("matching", "exemplar_weight"),
    "reference": (None, "reference"),
    "min_family_n_eff": (None, "min_family_n_eff"),
    "rule_version": (None, "rule_version"),
    "detector_max_near_miss_rate": (None, "detector_max_near_miss_rate"),
}


class RunSettings(BaseModel):
    """The settings an audit ran with, carried from the spec to ``findings.json`` (``Findings.settings``).

    It embeds the spec's own settings models, so every default and bound is theirs: ``scoring`` (with
    the audit's effective seed), ``extraction`` (template, dtype and max_tokens are recorded) and
    ``matching`` (the threshold, top_k and exemplar weight the matcher resolved). The file keeps its flat
    shape (:data:`RECORDED_SETTINGS`): a value is written when it was recorded (set when the findings
    were derived, or read from the file), so an older file that recorded fewer keys reads with the
    method's defaults and writes back as it was. Keys this version does not know are kept as they are.
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    scoring: ScoringSettings = Field(
        default_factory=ScoringSettings,
        description="The scoring statistics (seed: the audit's effective seed).")
    extraction: ExtractionSettings = Field(
        default_factory=ExtractionSettings,
        description="The activation extraction settings (template, dtype and max_tokens are recorded).")
    matching: MatchingSettings = Field(
        default_factory=MatchingSettings,
        description="The matcher's settings as it resolved them (threshold, top_k and exemplar weight are "
        "recorded).")
    reference: str | None = Field(default=None, description="Name of the reference sample of the coverage ratios.")
    min_family_n_eff: float | None = Field(
        default=None, description="Scored family items below which a family's performance is not judged.")
    rule_version: int | None = Field(default=None, description="Version of the verdict rule that judged the families.")
    detector_max_near_miss_rate: float | None = Field(
        default=None, ge=0, le=1,
        description="Share of a family's held-out near misses its detector's operating point lets through "
        "(findings of earlier versions do not record it).")

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any) -> Any:
        """The flat keys of a file, each put into its section and checked by the section's model, so an
        error names the key as the file spells it."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        sections: dict[str, dict[str, Any]] = {}
        for key, (section, name) in RECORDED_SETTINGS.items():
            if section is not None and key in data:
                sections.setdefault(section, {})[name] = data.pop(key)
        for section, values in sections.items():
            if section in data:
                raise ValueError(f"settings give {section} both as a section and as flat keys")
            model = cls.model_fields[section].annotation
            assert isinstance(model, type) and issubclass(model, BaseModel)
            try:
                data[section] = model.model_validate(values)
            except ValidationError as exc:
                err = exc.errors()[0]
                name = str(err["loc"][0]) if err.get("loc") else ""
                key = next((k for k, (s, n) in RECORDED_SETTINGS.items() if s == section and n == name), name)
                raise ValueError(f"{key}: {err['msg']}") from None
        return data

    @model_serializer(mode="wrap")
    def _to_file(self, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (section, name) in RECORDED_SETTINGS.items():
            holder: BaseModel = self if section is None else getattr(self, section)
            if name in holder.model_fields_set:
                out[key] = getattr(holder, name)
        extra = handler(self)  # the extras, serialized as the mode asks
        out.update({k: v for k, v in extra.items() if k in (self.model_extra or {})})
        return out

    def recorded(self) -> dict[str, Any]:
        """The flat settings as ``findings.json`` records them (key -> value)."""
        return self.model_dump(mode="json")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """The file's flat shape: each key with its section field's type, bounds and description."""
        from pydantic import TypeAdapter

        properties: dict[str, Any] = {}
        for key, (section, name) in RECORDED_SETTINGS.items():
            if section is None:
                info = cls.model_fields[name]
                assert info.annotation is not None
                prop = TypeAdapter(info.annotation).json_schema()
                if info.description:
                    prop["description"] = info.description
            else:
                model = cls.model_fields[section].annotation
                assert isinstance(model, type) and issubclass(model, BaseModel)
                prop = dict(model.model_json_schema()["properties"][name])
            prop["title"] = key
            properties[key] = prop
        return {"type": "object", "title": "RunSettings", "description": cls.__doc__ and " ".join(
            cls.__doc__.split()), "properties": properties, "additionalProperties": True}


def _dictionary_tag(value: Any) -> str:
    return "default" if isinstance(value, str) else "custom"


DictionaryChoice = Annotated[
    Annotated[Literal["default"], Tag("default")] | Annotated[DictionarySpec, Tag("custom")],
    Discriminator(_dictionary_tag),
]


class ModelSpec(_Spec):
    """One candidate of a vendor audit (``models:``): its name and its eval log of each benchmark."""

    name: NonEmptyStr = Field(description="Name of the model, as the report should show it.")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="sha256 of the model's weights file, for the record.")
    revision: NonEmptyStr | None = Field(default=None, description="Version or revision of the model, for the record.")
    logs: dict[NonEmptyStr, NonEmptyStr] = Field(
        description="This model's eval log of each benchmark: benchmark name -> log path (relative to the "
        "audit file). Every benchmark of the suite, and no other; the logs of all models hold the same "
        "item ids.")
    scorer_checks: dict[NonEmptyStr, NonEmptyStr] = Field(
        default_factory=dict,
        description="Human verdicts on a sample of this model's answers, benchmark name -> CSV (item_id, verdict), "
        "relative to the audit file: the report gives each scorer's agreement with them.")


def _models_problems(model: Any, models: Any, benchmarks: Any) -> list[tuple[Loc, str]]:
    """Rules of 'model' / 'models' against the benchmarks, on raw or validated data (absolute locations)."""
    def get(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    problems: list[tuple[Loc, str]] = []
    benchmarks = benchmarks if isinstance(benchmarks, list) else []
    names = [get(b, "name") for b in benchmarks]
    if model is None and models is None:
        return [(("model",), "required key 'model' is missing (or give 'models', the candidates to compare)")]
    if model is not None and models is not None:
        return [(("models",), "give 'model' (one model) or 'models' (candidates to compare), not both")]
    if models is None:
        for i, b in enumerate(benchmarks):
            if get(b, "log") is None:
                problems.append((("benchmarks", i, "log"), f"benchmark '{get(b, 'name')}' needs 'log'"))
        return problems
    if not isinstance(models, list):
        return problems
    if len(models) < 2:
        problems.append((("models",), "a vendor audit compares two models or more; with one, write 'model:' "
                         "and each benchmark's 'log:'"))
    problems += _prefixed(("models",), _duplicate_problems([get(m, "name") for m in models], "models", "name",
                                                           "model name"))
    for i, b in enumerate(benchmarks):
        if get(b, "log") is not None:
            problems.append((("benchmarks", i, "log"), "with 'models', each model names its log of this "
                             f"benchmark under models[].logs.{get(b, 'name')}; remove 'log' here"))
    for i, m in enumerate(models):
        logs = get(m, "logs")
        if not isinstance(logs, dict):
            continue
        for name in names:
            if isinstance(name, str) and name not in logs:
                problems.append((("models", i, "logs"), f"model '{get(m, 'name')}' has no log for benchmark "
                                 f"'{name}'"))
        for key in logs:
            if key not in names:
                problems.append((("models", i, "logs", key), f"model '{get(m, 'name')}' names a log for "
                                 f"'{key}', which is not a benchmark of the suite"))
    return problems


class AuditSpec(_Spec):
    """An audit: a model under review (or several candidates), its benchmark suite, a dictionary and a profile."""

    audit: Slug = Field(description="Identifier of the audit, a slug; names the default output folder.")
    description: NonEmptyStr | None = Field(default=None, description="What the audit is for.")
    model: NonEmptyStr | None = Field(
        default=None, description="Name of the model under review, as the report should show it. "
        "Give 'model' (and each benchmark's 'log') or 'models', not both.")
    models: list[ModelSpec] | None = Field(
        default=None, description="A vendor audit: two or more candidate models scored on the same items, "
        "each with its eval log of every benchmark (models[].logs); the benchmarks then give no 'log'. "
        "The report compares them family by family, with paired differences.")
    profile: NonEmptyStr = Field(description="Deployment profile file, relative to the audit file.")
    dictionary: DictionaryChoice = Field(
        default="default",
        description="Concept dictionary: 'default' (the bundled one) or a dictionary spec.",
    )
    benchmarks: list[BenchmarkSpec] = Field(
        min_length=1, description="The benchmark suite: eval logs with per-item scores."
    )
    reference: ReferenceSpec | None = Field(
        default=None,
        description="Sample of the real workload, the base rate for coverage ratios; the dictionary's "
        "reference corpus when omitted.",
    )
    labels: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Review sheets filled by the profile's owner (written by `cg-gov review`), relative to "
        "the audit file: the yes/no labels that confirm each family's detected items.",
    )
    family_tags: list[FamilyTag] = Field(
        default_factory=list,
        description="Items whose logs declare them a family's (whole benchmarks, or a metadata field's values): "
        "members by declaration; the report measures the family detector's recall and precision on them.",
    )
    report: ReportSpec = Field(default_factory=ReportSpec, description="Report formats and folder.")
    extraction: ExtractionSettings = Field(
        default_factory=ExtractionSettings, description="Activation extraction settings."
    )
    scoring: ScoringSettings = Field(default_factory=ScoringSettings, description="Scoring statistics settings.")
    seed: int | None = Field(
        default=None, ge=0, description="Seed of the whole audit; overrides scoring.seed when set."
    )

    _source_file: Path | None = PrivateAttr(default=None)

    @field_validator("dictionary", mode="before")
    @classmethod
    def _check_dictionary(cls, value: Any) -> Any:
        if value == "default" or isinstance(value, (dict, DictionarySpec)):
            return value
        raise ValueError(
            f"must be 'default' or a mapping with keys model, hook_layer, sae, labels (got {short_repr(value)})"
        )

    @field_validator("benchmarks")
    @classmethod
    def _unique_benchmark_names(cls, benchmarks: list[BenchmarkSpec]) -> list[BenchmarkSpec]:
        problems = _duplicate_problems([b.name for b in benchmarks], "benchmarks", "name", "benchmark name")
        if problems:
            raise Problems(problems)
        return benchmarks

    @model_validator(mode="after")
    def _check_models(self) -> "AuditSpec":
        problems = _models_problems(self.model, self.models, self.benchmarks)
        if problems:
            raise Problems(problems)
        return self

    @property
    def vendor(self) -> bool:
        """True for a vendor audit (``models:``)."""
        return self.models is not None

    def for_model(self, name: str) -> "AuditSpec":
        """The single-model audit of one candidate of a vendor audit: ``model`` set to its name and
        each benchmark's ``log`` to its log."""
        (m,) = [m for m in (self.models or []) if m.name == name]
        out = self.model_copy(update={"model": m.name, "models": None, "benchmarks": [
            b.model_copy(update={"log": m.logs[b.name], "scorer_check": m.scorer_checks.get(b.name, b.scorer_check)})
            for b in self.benchmarks]})
        out._source_file = self._source_file
        return out

    @classmethod
    def raw_problems(cls, data: Any) -> list[tuple[Loc, str]]:
        """Rules across benchmarks and report formats, checked on raw YAML data."""
        names = _raw_field(_raw_list(data, "benchmarks"), "name")
        problems = _prefixed(("benchmarks",), _duplicate_problems(names, "benchmarks", "name", "benchmark name"))
        if isinstance(data, dict):
            problems += _models_problems(data.get("model"), data.get("models"), data.get("benchmarks"))
        report = data.get("report") if isinstance(data, dict) else None
        formats = _raw_list(report, "formats")
        return problems + _prefixed(("report", "formats"), _duplicate_problems(formats, "formats", None, "format"))

    @property
    def source_file(self) -> Path | None:
        """The file the audit spec was loaded from, if any."""
        return self._source_file

    @property
    def effective_seed(self) -> int:
        """The audit seed if set, else scoring.seed."""
        return self.seed if self.seed is not None else self.scoring.seed

    def resolve(self, p: str | os.PathLike) -> Path:
        """A path written in the audit spec, resolved against the spec's folder."""
        return resolve_path(self._source_file or Path("audit.yaml"), p)

    def output_dir(self, override: str | os.PathLike | None = None) -> Path:
        """Report folder: ``override`` (e.g. ``--out``, relative to the working folder), else
        report.out (relative to the spec file), else ``reports/<audit id>``."""
        if override is not None:
            return Path(override)
        if self.report.out is not None:
            return self.resolve(self.report.out)
        return Path("reports") / self.audit


# ---------------------------------------------------------------------------
# Paths and JSON Schema
# ---------------------------------------------------------------------------


def resolve_path(spec_file: str | os.PathLike, p: str | os.PathLike) -> Path:
    """Resolve a path written in a spec: absolute paths (and ``~``) stay, relative ones are taken
    relative to the folder of ``spec_file``."""
    path = Path(os.path.expanduser(os.fspath(p)))
    if path.is_absolute():
        return path
    return Path(os.path.normpath(Path(spec_file).parent / path))


_SCHEMA_MODELS: dict[str, type[BaseModel]] = {"profile": Profile, "audit": AuditSpec}


def json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of a spec kind ('profile' or 'audit')."""
    model = _SCHEMA_MODELS[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def spec_kind(data: Any) -> Literal["profile", "audit"] | None:
    """'audit' when the mapping has a top key ``audit``, 'profile' when it has ``profile`` (and no
    ``audit``: audit specs name their profile under ``profile``), else None."""
    if not isinstance(data, dict):
        return None
    if "audit" in data:
        return "audit"
    if "profile" in data:
        return "profile"
    return None


def _check_kind(doc: SpecDocument, expected: Literal["profile", "audit"]) -> None:
    kind = spec_kind(doc.data)
    if kind == expected:
        return
    names = {"profile": "a profile", "audit": "an audit spec"}
    hint = f"this looks like {names[kind]}" if kind else None
    raise SpecError(f"not {names[expected]}: top key '{expected}' is missing", file=str(doc.path), line=1, hint=hint)


def load_profile(path: str | os.PathLike) -> Profile:
    """Load and validate a deployment profile."""
    doc = read_spec_document(path)
    _check_kind(doc, "profile")
    instance, errors = parse_model(doc, Profile)
    if errors:
        raise_errors(errors, doc.path)
    return instance  # type: ignore[return-value]


def load_audit(path: str | os.PathLike) -> AuditSpec:
    """Load and validate an audit spec (its profile is not loaded)."""
    doc = read_spec_document(path)
    _check_kind(doc, "audit")
    instance, errors = parse_model(doc, AuditSpec)
    if errors:
        raise_errors(errors, doc.path)
    return instance  # type: ignore[return-value]


def load_audit_with_profile(path: str | os.PathLike) -> tuple[AuditSpec, Profile, Path]:
    """Load an audit spec and the profile it names. Returns (audit, profile, resolved profile path)."""
    doc = read_spec_document(path)
    _check_kind(doc, "audit")
    audit, errors = parse_model(doc, AuditSpec)
    if errors:
        raise_errors(errors, doc.path)
    assert isinstance(audit, AuditSpec)
    profile_path = audit.resolve(audit.profile)
    if not profile_path.is_file():
        raise doc.error(
            ("profile",), f"profile file not found: {profile_path}", hint="paths are relative to the audit file"
        )
    profile = load_profile(profile_path)
    names = [b.name for b in audit.benchmarks]
    for i, tag in enumerate(audit.family_tags):
        for j, named in enumerate(tag.benchmarks):
            if named not in names:
                raise doc.error(("family_tags", i, "benchmarks", j), f"benchmark {named!r} is not in the suite",
                                hint=f"benchmarks: {', '.join(names)}")
    vocabulary = profile.behaviour_vocabulary()
    for i, b in enumerate(audit.benchmarks):
        if b.measures is not None and b.measures not in vocabulary:
            raise doc.error(("benchmarks", i, "measures"), unknown_behaviour(b.measures, vocabulary),
                            hint=f"behaviours come from the profile {profile_path.name} and the built-in list")
    return audit, profile, profile_path
