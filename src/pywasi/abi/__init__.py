"""The WASI binary interface as data: numbers, flag sets, struct layouts and signatures."""

from .layouts import ABIS, PREVIEW1, UNSTABLE, Abi
from .types import Errno

__all__ = ["ABIS", "PREVIEW1", "UNSTABLE", "Abi", "Errno"]
