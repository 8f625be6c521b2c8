"""``python -m descentlab`` and the ``descentlab`` command."""

import signal
import sys


def run() -> int:
    """Run the command line. Ctrl-C while Python is still loading it ends the command with exit code 130 and no
    traceback: nothing has begun, so there is nothing to keep or to say. Once the command has returned, its files
    are written and its message printed: a late Ctrl-C must not turn its exit code into death by signal."""
    code = 130
    try:
        from .cli.main import main

        code = main()
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_ctrl_c_from_now_on()
    return code


def _ignore_ctrl_c_from_now_on() -> None:
    while True:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return
        except KeyboardInterrupt:  # a press arriving while the handler is being replaced
            continue


if __name__ == "__main__":
    sys.exit(run())
