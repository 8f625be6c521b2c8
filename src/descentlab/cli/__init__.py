"""The command line: parses, calls the library, prints."""

from .main import main

__all__ = ["main"]
