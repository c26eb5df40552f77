"""The ``cg-gov`` command line.

Exit codes: 0 success, 1 a gate failed (reported by the command), 2 an error
the user must fix, 130 interrupted. Errors are printed as one message
(``cg-gov: error: ...``), never as a traceback. Each command's module is
imported only when the command runs, so ``cg-gov validate`` and
``cg-gov schema`` do not load torch or any model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence

from cg_gov.errors import EXIT_ERROR, EXIT_OK, CgGovError, MissingDependencyError

__all__ = ["build_parser", "main"]

PROG = "cg-gov"

#: Optional packages by import name: what to pip install when one is missing.
PIP_NAMES = {
    "torch": "torch==2.13.0",
    "transformers": "transformers",
    "sae_lens": "sae-lens",
    "sentence_transformers": "sentence-transformers",
    "weasyprint": "weasyprint",
    "gguf": "gguf",
    "safetensors": "safetensors",
    "jinja2": "jinja2",
    "inspect_ai": "inspect-ai",
    "lm_eval": "lm-eval",
    "pandas": "pandas",
    "scipy": "scipy",
    "numpy": "numpy",
    "tqdm": "tqdm",
    "ray": "ray[data]",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cg-gov")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, looking the version up only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit", **kwargs
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _missing_dependency(exc: ModuleNotFoundError) -> MissingDependencyError | None:
    """A clean error for a missing optional package, or None when the import failure is a bug."""
    top = (exc.name or "").split(".")[0]
    if top not in PIP_NAMES:
        return None
    return MissingDependencyError(
        f"the Python package '{top}' is not installed",
        hint=f"pip install '{PIP_NAMES[top]}'",
    )


def _delegate(module: str, function: str, command: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``module`` only when the command runs and calls ``function(args)``."""

    def handler(args: argparse.Namespace) -> int:
        try:
            target = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
                raise CgGovError(
                    f"'{PROG} {command}' is not available in this installation ({module} is missing)"
                ) from None
            raise
        except AttributeError:
            raise CgGovError(
                f"'{PROG} {command}' is not available in this installation ({module}.{function} is missing)"
            ) from None
        code = target(args)
        return EXIT_OK if code is None else int(code)

    return handler


# ---------------------------------------------------------------------------
# validate and schema
# ---------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from cg_gov.validate import check_file

    failed = False
    for file in args.files:
        kind, errors = check_file(file)
        if errors:
            failed = True
            for error in errors:
                print(f"error: {error.render()}", file=sys.stderr)
        else:
            print(f"ok: {file} ({kind})")
    return EXIT_ERROR if failed else EXIT_OK


def _schema(kind: str) -> dict:
    if kind in ("profile", "audit"):
        from cg_gov.specs import json_schema

        return json_schema(kind)
    try:
        findings = importlib.import_module("cg_gov.findings")
    except ModuleNotFoundError as exc:
        if exc.name == "cg_gov.findings":
            raise CgGovError(
                "the findings schema is not available in this installation (cg_gov.findings is missing)"
            ) from None
        raise
    if hasattr(findings, "findings_json_schema"):
        return findings.findings_json_schema()
    return findings.Findings.model_json_schema()


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(_schema(args.kind), indent=2, sort_keys=True, ensure_ascii=False))
    return EXIT_OK


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cg-gov``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Governance reports on an LLM's competency gaps: which concepts a deployment needs "
        "that its benchmarks barely test, and where the model fails on them.",
        epilog="Exit codes: 0 success, 1 a gate failed, 2 an error to fix.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser(
        "validate",
        help="check profiles and audit specs (schema, files, profile, logs)",
        description="Check profiles and audit specs the way a run would.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="profile or audit spec (YAML)")
    p.set_defaults(handler=_cmd_validate)

    p = commands.add_parser(
        "schema",
        help="print the JSON Schema of a profile, an audit spec or findings.json",
        description="Print a JSON Schema.",
    )
    p.add_argument(
        "kind",
        nargs="?",
        default="profile",
        choices=["profile", "audit", "findings"],
        help="which schema (default: profile)",
    )
    p.set_defaults(handler=_cmd_schema)

    p = commands.add_parser(
        "audit",
        help="run an audit and write its report",
        description="Run an audit spec: read the eval logs, extract concept activations, "
        "score the profile's families and write the report.",
    )
    p.add_argument("spec", metavar="SPEC", help="audit spec (YAML)")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="output folder (default: the spec's report.out, else reports/<audit id>)",
    )
    p.add_argument(
        "--device",
        metavar="DEVICE",
        default=None,
        help="device for the language model: cpu, cuda, cuda:N, mps (default: the spec's)",
    )
    p.add_argument("--no-cache", action="store_true", help="recompute activations instead of using the cache")
    p.add_argument("--now", metavar="TIMESTAMP", default=None,
                   help="timestamp recorded in manifest.json (default: $SOURCE_DATE_EPOCH, else the current time)")
    p.set_defaults(handler=_delegate("cg_gov.audit", "run_audit_cli", "audit"))

    p = commands.add_parser(
        "match",
        help="show which concepts a profile's families match",
        description="Match a profile's families to the concepts of a dictionary.",
    )
    p.add_argument("profile", metavar="PROFILE", help="deployment profile (YAML)")
    p.add_argument(
        "--dictionary",
        metavar="DICT",
        default="default",
        help="concept dictionary: 'default' or a dictionary folder (default: default)",
    )
    p.add_argument("--json", action="store_true", help="print the match as JSON")
    p.add_argument("--exemplars", action=argparse.BooleanOptionalAction, default=True,
                   help="run the families' exemplars through the language model (the exemplar signal)")
    p.add_argument("--cache-dir", default=None, help="cache folder for label embeddings")
    p.set_defaults(handler=_delegate("cg_gov.matching", "match_cli", "match"))

    p = commands.add_parser(
        "diff", help="compare two audits (re-check after a change)", description="Compare the findings of two audits."
    )
    p.add_argument("old", metavar="OLD", help="earlier findings.json or report folder")
    p.add_argument("new", metavar="NEW", help="later findings.json or report folder")
    p.add_argument("--out", metavar="DIR", default=None, help="folder for the comparison report")
    p.add_argument(
        "--threshold", type=float, default=0.1, metavar="X",
        help="regression threshold: a fall of a family's coverage ratio by more than this fraction, or of its "
        "score by more than this, with non-overlapping intervals, fails (exit 1); default 0.1",
    )
    p.add_argument("--formats", default="json,html,pdf", help="formats written with --out (default json,html,pdf)")
    p.add_argument("--template-dir", default=None, help="a folder of templates overriding the packaged ones")
    p.set_defaults(handler=_delegate("cg_gov.diff", "diff_cli", "diff"))

    p = commands.add_parser(
        "dictionary", help="build and inspect concept dictionaries", description="Concept dictionary tools."
    )
    dictionary_commands = p.add_subparsers(dest="dictionary_command", metavar="COMMAND", required=True)
    q = dictionary_commands.add_parser(
        "build", help="train an SAE and label its concepts", description="Build a concept dictionary (SAE and labels)."
    )
    q.add_argument("--config", metavar="FILE", default=None, help="build configuration (YAML)")
    q.add_argument("--work", metavar="DIR", default=None, help="work folder of the build (default: in the cache)")
    q.add_argument("--out", metavar="DIR", default=None, help="output folder (default: the bundled dictionary)")
    q.add_argument("--stop-after", choices=["corpus", "extract", "train"], default=None,
                   help="stop after this stage (the next run resumes)")
    q.set_defaults(handler=_delegate("cg_gov.dictbuild.build", "build_cli", "dictionary build"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cg-gov`` with ``argv`` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except CgGovError as exc:
        print(f"{PROG}: error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        error = _missing_dependency(exc)
        if error is None:
            raise
        print(f"{PROG}: error: {error.render()}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        # Output piped into a program that stopped reading (e.g. `cg-gov schema | head`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # noqa: BLE001 - a bug, not a user error: never let it read as "gate failed" (1)
        import traceback

        traceback.print_exc()
        print(f"{PROG}: internal error (a bug in cg_gov; the traceback above says where)", file=sys.stderr)
        return EXIT_ERROR
