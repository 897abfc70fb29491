"""`python -m pywasi run ...`, the same as the `pywasi` command."""

from .cli import console

console()
