"""The ``cg-gov`` command line.

Exit codes: 0 success, 1 a gate failed (reported by the command), 2 an error
the user must fix, 130 interrupted. Errors are printed as one message
(``cg-gov: error: ...``), never as a traceback. Each command is
a module of this package: it defines its options once (``add_parser``) and calls the
library (``run``); the library never sees a parser. Heavy modules are imported only
when a command runs, so ``cg-gov validate`` and ``cg-gov schema`` do not load torch
or any model.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from cg_gov.cli import activations, audit, diff, dictionary, match, recheck, report, review, schema, validate
from cg_gov.errors import EXIT_ERROR, EXIT_OK, CgGovError, MissingDependencyError
from cg_gov.io import package_version

__all__ = ["build_parser", "main"]

PROG = "cg-gov"

#: The command modules, in the order ``cg-gov --help`` lists them.
COMMANDS = (validate, schema, audit, review, report, match, diff, recheck, dictionary, activations)

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
}


class _VersionAction(argparse.Action):
    """--version, looking the version up only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show the version and exit", **kwargs
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{PROG} {package_version()}")
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


# ---------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``cg-gov``: each command module adds its own sub-parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Governance reports on an LLM's competency gaps: which concepts a deployment needs "
        "that its benchmarks barely test, and where the model fails on them.",
        epilog="Exit codes: 0 success, 1 a gate failed, 2 an error to fix.",
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
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
