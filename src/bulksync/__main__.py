"""``python -m bulksync``."""

from bulksync.cli import main

main()
