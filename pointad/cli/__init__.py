"""The ``pnas`` command line: one parser, one sub-command module per verb.

Bad input never produces a traceback: :class:`~pointad.errors.InputError` (and any ``ValueError``
or ``OSError`` from reading files) becomes one line on stderr and exit status 2. A verb that
goes over many items (``pnas generate``) exits 1 when some items failed and the others were
written. SIGINT and SIGTERM exit 130 and 143 (the long verbs stop at a safe point, see
:mod:`pointad.cli._interrupt`).
"""
from __future__ import annotations

import argparse
import sys

from pointad import __version__
from pointad.cli._interrupt import Interrupted
from pointad.errors import InputError

EXIT_INPUT_ERROR = 2
EXIT_SOME_FAILED = 1  # a verb over many items: some failed (each reported), the rest written


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays in --help)."""

    def error(self, message):
        raise InputError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from pointad.cli import bench, generate, plot, signals, view
    from pointad.cli import eval as eval_verb

    parser = _OneLineParser(prog="pnas", description="3D point-cloud anomaly synthesis (3D-PNAS) "
                            "and detection.")
    parser.add_argument("--version", action="version", version=f"pointad {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_OneLineParser)
    verbs.required = True
    for module in (generate, bench, eval_verb, view, plot, signals):
        module.add_parser(verbs)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except (InputError, ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"pnas: error: {message}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("pnas: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:  # SIGINT/SIGTERM, acted on at a safe point of a long verb
        print(f"pnas: interrupted{f' ({exc.detail})' if exc.detail else ''}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
