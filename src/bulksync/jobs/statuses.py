"""A job's statuses: one vocabulary for the CLI, the API, metrics and docs.

No imports: ``bulksync jobs --help`` names them without loading the job store.
"""

# What a job row stores: the state machine of store.py.
STORED = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
# ``partial``: a fan-out job (a store sync) ended with some of its sources failed, each named in
# its result; resuming it re-runs only those.
FINAL = frozenset({"succeeded", "partial", "failed", "cancelled"})
# What every face shows and filters on (CLI, API, metrics, docs): the stored states, with a
# running job told apart when a cancel was asked for (``stopping``) or its runner stopped
# heart-beating (``lost``: resume, or any runner, takes it over from its checkpoints).
STATUSES = ("queued", "running", "stopping", "lost", "succeeded", "partial", "failed", "cancelled")
