"""The installed `pettrack` command.

Kept apart from cli.py so that Ctrl-C while the command line is still loading exits 130 quietly
like Ctrl-C at any other moment: the whole run, imports included, is under one Ctrl-C record
(pipelines/interrupts.py).

One error path: usage errors are typer's (exit 2); every expected failure is handled by its command
(pipelines/commands/) and ends with one `pettrack: ...` line; an OS error nobody caught (a full disk while writing) is
one line naming the file; anything else is a bug and prints one line too, with the traceback
behind `--debug` (accepted anywhere on the command line).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from .interrupts import ctrl_c_requests

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def main() -> None:
    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv = [arg for arg in sys.argv if arg != "--debug"]
        os.environ["PETTRACK_DEBUG"] = "1"  # the library then lets libav's own log lines through
    else:
        quiet_libraries()
    pressed = _never
    try:
        # Ctrl-C is recorded as well as raised for the whole run: the runner stops at its next
        # frame even when the KeyboardInterrupt itself was swallowed (pipelines/interrupts.py),
        # and a run that fails after a Ctrl-C (an interrupt inside a C extension's import leaves it
        # half-loaded and turns into an ImportError) ends as interrupted.
        with ctrl_c_requests() as pressed:
            from .cli import app

            app()
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as stop:
        if stop.code not in (0, None, EXIT_INTERRUPTED) and pressed():
            _interrupted()
        raise
    except OSError as exc:  # the file system refused (a full disk, a folder gone): one line, the job failed
        if pressed():
            _interrupted()
        if debug:
            raise
        from .console import describe_error, fail

        fail(describe_error(exc))
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see the module docstring
        if pressed():
            _interrupted()
        if debug:
            raise
        from .console import describe_error, fail

        fail(f"{describe_error(exc)} (an unexpected error: run the same command with --debug for the traceback)")
        sys.exit(EXIT_FAILED)


def _never() -> bool:
    return False


def _interrupted() -> NoReturn:
    sys.stderr.write("pettrack: interrupted\n")
    sys.exit(EXIT_INTERRUPTED)


def quiet_libraries() -> None:
    """Library notices are for developers, not users: deprecation warnings (torch's on a
    TorchScript export) and OpenCV's log lines (a dozen when a camera index does not open) show
    with --debug only. pettrack's own messages are not Python warnings, so none is lost."""
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # read when cv2 is first imported


if __name__ == "__main__":
    main()
