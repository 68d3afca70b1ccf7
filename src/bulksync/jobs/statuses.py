"""A job's statuses: one vocabulary for the CLI, the API, metrics and docs.

No imports: ``bulksync jobs --help`` names them without loading the job store.
"""

# What a job row stores: the state machine of store.py.
STORED = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = frozenset({"succeeded", "failed", "cancelled"})
# What every face shows and filters on (CLI, API, metrics, docs): the stored states, with a
# running job told apart when a cancel was asked for (``stopping``) or its runner stopped
# heart-beating (``lost``: resume, or any runner, takes it over from its checkpoints).
STATUSES = ("queued", "running", "stopping", "lost", "succeeded", "failed", "cancelled")
