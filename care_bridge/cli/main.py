"""``care-bridge``: train CARE networks, export them as bioimage.io bundles and restore images with them.

Each sub-command lives in its own module and registers itself with :func:`add_parser`; expected errors are
printed as one line (``care-bridge: error: ...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CareBridgeError
from ..framework_env import configure_onnxruntime, configure_tensorflow
from ..tempdirs import Terminated, remove_on_termination

DESCRIPTION = """\
Content-aware image restoration (CARE; Weigert et al., Nature Methods 2018) for fluorescence microscopy.

Typical workflow:
  care-bridge datagen --low raw/low --high raw/high --axes YX --patch-shape 64,64 --n-patches 200 --out patches.npz
  care-bridge train   --data patches.npz --out models/my_care --epochs 100
  care-bridge export  models/my_care --out my_care.zip          # a bioimage.io bundle (ONNX + TF + Keras)
  care-bridge predict --bundle my_care.zip --input low.tif --output restored.tif
  care-bridge evaluate --prediction restored.tif --target high.tif
  care-bridge calibrate --bundle my_care.zip --low held_out/low --high held_out/high --out my_care_cal.zip

Run 'care-bridge COMMAND --help' for the options of each command.
"""


def _commands():
    from . import bundle_cmds, calibrate_cmd, core_cmds, demo

    return [core_cmds.DATAGEN, core_cmds.TRAIN, core_cmds.PREDICT, core_cmds.EVALUATE,
            *bundle_cmds.COMMANDS, calibrate_cmd.CALIBRATE, demo.DEMO]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="care-bridge", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"care_bridge {__version__}")
    parser.add_argument("--report-to-stdout", action="store_true",
                        help="for callers that read only standard output (ImageJ's exec(), which the Fiji macros use "
                             "without any shell): errors go to standard output too, and the last line says "
                             "care-bridge-exit=N; give it before the command")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in _commands():
        cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["--report-to-stdout"]:
        return _run(argv)
    real_stderr, code = sys.stderr, 1
    sys.stderr = sys.stdout  # argparse's own errors too
    try:
        code = _run(argv)
    except SystemExit as e:  # argparse: usage errors (2), --help / --version (0)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        sys.stderr = real_stderr
        print(f"care-bridge-exit={code}", flush=True)
    return code


def _run(argv: list[str]) -> int:
    configure_onnxruntime()
    configure_tensorflow()
    remove_on_termination()  # SIGTERM/SIGHUP: temporary outputs and extracted bundles are removed on the way out
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CareBridgeError, OSError, MemoryError) as e:
        from ..frontend.messages import error_line

        print(f"care-bridge: error: {error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("care-bridge: interrupted; nothing was left half-written", file=sys.stderr)
        return 130
    except Terminated as e:
        print("care-bridge: terminated; nothing was left half-written", file=sys.stderr)
        return int(e.code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
