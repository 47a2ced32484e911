"""Reports derived from stored facts: driver reports, scorecards, the morning report, delivery."""
