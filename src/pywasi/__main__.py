"""The `pywasi` command, also ``python -m pywasi``: `cli.main` with a short start and end.

Loading the command makes only objects that live as long as the process (modules, classes,
tables), so the collector is off while it loads (its passes over them cost a plain run ~10 ms)
and they are then frozen out of later passes; the guest runs with the collector on. At the end
the process leaves without tearing the interpreter down (more passes and finalizers, ~25 ms,
more with a large module loaded), once what was written is flushed: the run has closed what
it opened, and nothing is left that an exit handler would do.
"""

import contextlib
import gc
import os
import sys


def console() -> None:
    gc.disable()
    from .cli import main

    gc.freeze()
    gc.enable()
    status = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None: the host's descriptor was closed when Python started
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(status)


if __name__ == "__main__":
    console()
