"""Where calls physically go: implementations of the domain's `Trunk` (simulated carrier, SIP)."""
