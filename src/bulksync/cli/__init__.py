"""The ``bulksync`` command line (Typer); ``render.py`` is the only module that draws."""
