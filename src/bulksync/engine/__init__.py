"""The data path: plan → read → batch → write → checkpoint. Pure: no env, no Rich, no web."""
