"""Background jobs: a durable record per job, runners that claim them, progress as they go.

statuses.py the job statuses, one vocabulary everywhere
job.py      Job and Progress, as read from a row (no SQLAlchemy)
model.py    the bulksync_jobs table
store.py    the job store: the single writer of job state (SQLite file or shared PostgreSQL)
lookup.py   read and cancel jobs through sqlite3 / psycopg: `bulksync jobs|status|cancel`
specs.py    a SyncSpec as a record holds it (connection names, never a password)
runner.py   the embedded runner: claim, run with sync(), heartbeat, record the end
preflight.py check both ends of a spec before a job is recorded (the API's 422, the CLI's line)
addresses.py configured connection names instead of addresses, in API answers and job records
launch.py   submit a job and start a detached runner process for it
dispatch.py start a recorded job: embedded workers, or the Dramatiq broker

Distributed (a broker is set): a job becomes partition tasks that `bulksync worker`s run.
task_model.py   the bulksync_tasks table and Task
tasks.py        the TaskStore: every change to a task row (record, claim, heartbeat, end, the job's end)
task_sweep.py   the sweeper's queries: dead tasks, lost messages, leases of running jobs
task_progress.py a job's progress (measured rates, ETA) and result summed from its task rows
broker.py       the Dramatiq broker from BULKSYNC_BROKER_URL (Redis or RabbitMQ) and its limits
actors.py       the plan_job and run_partition actors, and the sweeper
task_runner.py  run one claimed task with the engine, heartbeating its lease

Store syncs (kind ``stores``: many store APIs into PostgreSQL, recipes/stores.py) as jobs:
store_specs.py  the job record of a store sync (the store list, credential names, options)
store_runner.py one runner runs the whole sync (--background, bulksync serve's workers)
store_tasks.py  on the fleet: one task per store, a finish task that closes the run
"""
