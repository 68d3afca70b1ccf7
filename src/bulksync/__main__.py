"""``python -m bulksync``."""

from bulksync.cli.app import main

main()
