"""The installed `pettrack` command.

Kept apart from cli.py so that Ctrl-C while torch is still loading (the first second or two)
exits 130 quietly like Ctrl-C at any other moment.

One error path: usage errors are typer's (exit 2); every expected failure is handled in cli.py
and ends with one `pettrack: ...` line; an OS error nobody caught (a full disk while writing) is
one line naming the file; anything else is a bug and prints one line too, with the traceback
behind `--debug` (accepted anywhere on the command line).
"""

from __future__ import annotations

import os
import sys

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv = [arg for arg in sys.argv if arg != "--debug"]
        os.environ["PETTRACK_DEBUG"] = "1"  # the library then lets libav's own log lines through
    try:
        from .cli import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("pettrack: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:  # the file system refused (a full disk, a folder gone): one line, the job failed
        if debug:
            raise
        from .console import describe_error, fail

        fail(describe_error(exc))
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see the module docstring
        if debug:
            raise
        from .console import describe_error, fail

        fail(f"{describe_error(exc)} (an unexpected error: run the same command with --debug for the traceback)")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
