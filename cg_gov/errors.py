"""User-facing errors and the exit-code contract.

Exit codes: 0 success, 1 a gate failed, 2 an error (bad input, missing file,
anything the user must fix). A :class:`CgGovError` is printed by the CLI as one
clean message, never as a traceback.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_ERROR = 2


#: Longest message, and longest file, key or hint, an error prints (longer ones are cut, marked "...").
MAX_MESSAGE = 1000
MAX_PART = 300


def _cap(text, limit: int):
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CgGovError(Exception):
    """An error the user can fix. Its message names the file, the place and the fix."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None) -> None:
        # every part is capped: a message quotes user input (an id, a value, a path), which may be huge
        self.file = _cap(file, MAX_PART)
        self.line = line
        self.key = _cap(key, MAX_PART)
        self.hint = _cap(hint, MAX_PART)
        self.message = _cap(message, MAX_MESSAGE)
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        text = f"{where}{key}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        # every part may quote a file's text: escape sequences, bidi and zero-width characters are
        # shown, never acted on, and the message stays on one line
        from cg_gov.text import safe_terminal

        return safe_terminal(text)


class SpecError(CgGovError):
    """A profile or audit spec is invalid."""


class EvalLogError(CgGovError):
    """An eval log cannot be read as items with scores."""


class DictionaryError(CgGovError):
    """A concept dictionary cannot be loaded or does not fit its model."""


class MissingDependencyError(CgGovError):
    """An optional dependency is not installed."""


class SpecErrorGroup(SpecError):
    """Several problems found in one spec file, reported together."""

    def __init__(self, errors: list[SpecError], *, file: str | None = None) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found", file=file)

    def render(self) -> str:
        from cg_gov.text import safe_terminal

        head = f"{self.file}: " if self.file else ""
        lines = [safe_terminal(f"{head}{self.message}:")]
        lines += [f"  {error.render()}" for error in self.errors]
        return "\n".join(lines)
