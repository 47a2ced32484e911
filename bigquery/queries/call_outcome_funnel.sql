-- The AI-call funnel for calls created in [@start, @end), per provider and purpose: placed
-- (a row exists), dialed (the provider accepted), connected (someone answered), completed,
-- with an insight, and needing follow-up. Parameters: @start TIMESTAMP, @end TIMESTAMP.
SELECT
  c.provider,
  c.purpose,
  COUNT(*) AS placed,
  COUNTIF(c.dialed_at IS NOT NULL) AS dialed,
  COUNTIF(c.started_at IS NOT NULL) AS connected,
  COUNTIF(c.outcome = 'completed') AS completed,
  COUNTIF(ci.id IS NOT NULL) AS with_insight,
  COUNTIF(COALESCE(ci.needs_follow_up, FALSE)) AS needs_follow_up,
  ROUND(100 * COUNTIF(c.outcome = 'completed') / COUNT(*), 1) AS completed_pct
FROM calls AS c
LEFT JOIN call_insights AS ci ON ci.call_id = c.id
WHERE c.created_at >= @start AND c.created_at < @end
GROUP BY c.provider, c.purpose
ORDER BY c.provider, c.purpose
