"""Hours-of-service rules as pure functions: from today's clocks and a driving plan, the legal one."""
