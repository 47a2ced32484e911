"""Hours-of-service rules as pure functions: from the clocks and a plan, the legal schedule."""
