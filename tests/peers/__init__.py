"""Real peers for the SIP trunk's tests: sipp scenarios, baresip configuration, a lossy UDP relay."""
