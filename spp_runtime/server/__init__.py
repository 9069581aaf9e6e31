"""The server side: one process per party, running jobs that clients submit."""
