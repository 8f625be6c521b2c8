"""``python -m descentlab`` and the ``descentlab`` command."""

import sys


def run() -> int:
    """Run the command line. Ctrl-C while Python is still loading it ends the command with exit code 130 and no
    traceback: nothing has begun, so there is nothing to keep or to say."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
