"""How the command line words a failure: `FAILED <input>: <what is wrong and what to do>`,
never an exception class name; tracebacks only with -v."""
from __future__ import annotations

import re


class UserError(Exception):
    """A problem with the user's input or options, reported as one clear line;
    `subject` (a file or folder) is what the line names when the error is not about the
    item being processed (the head, the output folder)."""

    def __init__(self, text: str, subject=None):
        super().__init__(text)
        self.subject = subject


def clean_text(text: str) -> str:
    """One line, without Blender's 'Error: ' prefixes; of a Python traceback that Blender
    put in its message (an add-on's failure), only the final message, without its class."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if any("Traceback (most recent call last)" in line for line in lines):
        last = next((l for l in reversed(lines) if not l.startswith(("File ", "Location:"))), "")
        lines = [re.sub(r"^[A-Za-z_.]*(Error|Exception)\b:?\s*", "", last)]
    text = " ".join(lines)
    while text.startswith("Error: "):
        text = text[len("Error: "):]
    return text


def message(exc: BaseException) -> str:
    """exc as a sentence for a person. Input problems (UserError, ValueError, OSError,
    Blender's RuntimeError) give their own message; anything else is our bug."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, (UserError, ValueError, RuntimeError, OSError)):
        return clean_text(exc) or "failed"
    if isinstance(exc, MemoryError):
        return "ran out of memory (is an input or option far larger than intended?)"
    detail = clean_text(exc)
    return ("internal error" + (f" ({detail})" if detail else "")
            + "; run again with -v for details, and please report it")


def report(exc: UserError, command: str = "faceforge") -> None:
    """Print a command-wide failure: `FAILED <subject>: why`, or `<command>: why`."""
    import sys
    lead = f"FAILED {exc.subject}" if getattr(exc, "subject", None) is not None else command
    print(f"{lead}: {message(exc)}", file=sys.stderr)
