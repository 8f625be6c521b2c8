"""``python -m descentlab`` and the ``descentlab`` command."""

# _signal, the interpreter's own (loaded before any module): ``signal`` would first import enum and functools,
# a window of tens of milliseconds in which Ctrl-C would end the command with a traceback.
import _signal as signal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import TextIO

INTERRUPTED = 130  # 128 + SIGINT: main's code for a command Ctrl-C stopped
TERMINATED = 143  # 128 + SIGTERM: the same stop, asked for by timeout, kill, systemd or Slurm
READER_LEFT = 141  # 128 + SIGPIPE: what a Unix tool's shell reports when its output's reader left first

_returned = False  # main has returned: its files are written and its message printed
_pressed = False  # Ctrl-C was pressed (or SIGTERM sent) while these handlers were in place
_terminated = False  # SIGTERM was sent


def _on_ctrl_c(signum: int, frame: "FrameType | None") -> None:
    """Python's own handler until the command has returned (KeyboardInterrupt); after that a press does nothing.
    Inside an import the press waits until the import is done: raised there, it can come out as another error
    (NumPy's C code makes an ImportError of it), which the ``except ImportError`` around an optional import
    (pyarrow's of pandas, while a CSV is read) swallows, and the command would run to the end."""
    global _pressed
    if _returned:
        return
    _pressed = True
    if _importing(frame):
        _raise_again_soon()
        return
    raise KeyboardInterrupt


def _importing(frame: "FrameType | None") -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _raise_again_soon() -> None:
    """The press again in a millisecond, through :func:`_on_ctrl_c`."""
    signal.signal(signal.SIGALRM, _on_ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.001)


def _on_terminate(signum: int, frame: "FrameType | None") -> None:
    """SIGTERM is Ctrl-C: handed to whatever handles Ctrl-C at this moment (the command's count of presses, a wait
    on a cluster, :func:`_on_ctrl_c`), so it stops the command as a press does, with the same lines and nothing
    lost. Where Ctrl-C is ignored only because the shell started the command so, SIGTERM still stops it."""
    global _terminated
    _terminated = True
    ctrl_c = signal.getsignal(signal.SIGINT)
    (ctrl_c if callable(ctrl_c) else _on_ctrl_c)(signal.SIGINT, frame)


_PIECE = 2048  # characters: at most 8 KiB in UTF-8, within the buffered stream's own buffer (io.DEFAULT_BUFFER_SIZE)


class _Output:
    """stdout or stderr, whose reader may leave before the command ends (``descentlab compare | head -1``): the run
    goes on and writes its files, since they are its product, and what the reader no longer takes is dropped. The
    stream is pointed at /dev/null, as Python's documentation advises for EPIPE, so that no later write (nor the
    flush at exit) fails again."""

    def __init__(self, stream: "TextIO") -> None:
        self._stream = stream
        self.reader_left = False

    def write(self, text: str) -> int:
        try:  # in pieces the stream buffers: a larger write, cut short by a reader that left, is dropped silently
            for start in range(0, len(text), _PIECE):
                self._stream.write(text[start : start + _PIECE])
        except BrokenPipeError:
            self._drop()
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def _drop(self) -> None:
        self.reader_left = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _unraisable(info: "sys.UnraisableHookArgs") -> None:
    """A press inside code Python cannot raise from (a weakref callback of the import system, a ``__del__``) would
    print "Exception ignored in …" and be lost: it is raised again a millisecond later, back where it can be."""
    if not isinstance(info.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(info)
    elif not _returned:
        _raise_again_soon()


def run() -> int:
    """Run the command line. Ctrl-C while Python is still loading it ends the command with exit code 130 and no
    traceback: nothing has begun, so there is nothing to keep or to say. Once the command has returned, its files
    are written and its message printed: a late Ctrl-C must neither turn its exit code into death by signal nor
    print a traceback. SIGTERM does what Ctrl-C does (:func:`_on_terminate`), with exit code 143."""
    global _returned
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started with Ctrl-C ignored
        signal.signal(signal.SIGINT, _on_ctrl_c)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # not when started with SIGTERM ignored
        signal.signal(signal.SIGTERM, _on_terminate)
    sys.unraisablehook = _unraisable
    outputs = _Output(sys.stdout or open(os.devnull, "w")), _Output(sys.stderr or open(os.devnull, "w"))  # None: closed
    sys.stdout, sys.stderr = outputs
    code = INTERRUPTED
    try:
        try:
            from .cli import main

            code = main()
        finally:  # runs even when a press interrupts the line above after main returned, so no window is left
            _returned = True
    except BaseException:
        # A press inside an import may come out as another error: NumPy's C code turns it into an ImportError
        # ("PyCapsule_Import could not import module datetime"). Whatever it became, the user pressed Ctrl-C.
        if not _pressed:
            raise
    # Now that the handlers no longer raise, ignore both signals outright: Python's finalization puts SIG_DFL back
    # in place of a Python handler (a signal then would kill the process), but leaves SIG_IGN alone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _pressed:
        # Under `python -m`, CPython ends the process by SIGINT, whatever the exit code, once a KeyboardInterrupt
        # has left an exec of a string (a dataclass being made during an import), even one caught since; an exec
        # that ends normally clears that mark.
        exec("")  # noqa: S102
    for output in outputs:  # what is still buffered goes now, while a reader that left can still be told apart
        output.flush()
    if _terminated and code == INTERRUPTED:
        return TERMINATED
    return READER_LEFT if code == 0 and any(output.reader_left for output in outputs) else code


if __name__ == "__main__":
    sys.exit(run())
