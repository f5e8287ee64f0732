"""Fault injection: each case puts the running server under one fault and checks that every
acknowledged receipt stays stored, that no client gets a 5xx it did not cause, and that the
server serves again once the fault ends. Each case is bounded in time (``timeout`` marks)."""
