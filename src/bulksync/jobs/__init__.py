"""Background jobs: a durable record per job, runners that claim them, progress as they go.

model.py    the bulksync_jobs table, Job and Progress
store.py    the job store: the single writer of job state (SQLite file or shared PostgreSQL)
specs.py    a SyncSpec as a record holds it (connection names, never a password)
runner.py   the embedded runner: claim, run with sync(), heartbeat, record the end
launch.py   submit a job and start a detached runner process for it
dispatch.py start a recorded job: embedded workers, or the Dramatiq broker
"""
