"""``python -m care_bridge.fiji MACRO [ARG]``: run a macro in an ImageJ hosted by this Python process.

MACRO is a ``.ijm`` path or one of ours by name (``CARE_Restore``). Run under ``xvfb-run -a`` on a machine
without a display. Prints the macro's return value; exits 1 if the macro stopped with an error.
The process ends with ``os._exit`` because a JVM that touched AWT can keep Python from exiting.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m care_bridge.fiji", description=__doc__.splitlines()[0])
    ap.add_argument("macro", help="macro file (.ijm) or name of a CARE macro (CARE_Restore, ...)")
    ap.add_argument("arg", nargs="?", default="", help="the macro's argument (getArgument())")
    ap.add_argument("--fiji", default=None, help="a local Fiji.app to start through pyimagej (ImageJ2)")
    ap.add_argument("--ij-jar", default=None, help="ImageJ 1.x jar (default /usr/share/java/ij.jar)")
    a = ap.parse_args(argv)
    from ..errors import CareBridgeError
    from .bridge import last_error
    from .host import run_macro, start_imagej

    try:
        session = start_imagej(a.fiji, ij_jar=a.ij_jar)
        out = run_macro(a.macro, a.arg, session=session)
    except CareBridgeError as e:
        print(f"care-bridge: error: {e}", file=sys.stderr)
        return 2
    if out:
        print(out)
    if out == "[aborted]":
        err = last_error()
        if err:
            print(f"care-bridge: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    rc = main()
    from ..tempdirs import cleanup

    cleanup()  # os._exit skips atexit: remove this process' temporary folder first
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
