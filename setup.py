"""Builds the optional C host-call trampoline; all other metadata is in pyproject.toml.

`optional=True`: without a C compiler or Python's headers the build only warns, and pywasi
runs its pure-Python host calls instead (same behaviour, slower per call).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pywasi.engine._trampoline",
            sources=["src/pywasi/engine/_trampoline.c"],
            optional=True,
        )
    ]
)
