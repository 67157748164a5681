"""Gateway nodes sharing one CDR database and one Redis (issue 16): leases and the reaper."""
