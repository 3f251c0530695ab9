"""The InstructForge HTTP service (Litestar): wires the store and the generators together."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("instructforge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
