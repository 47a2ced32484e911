"""AI driver calls: prompts, placement, webhook intake, reconciliation and insights."""
