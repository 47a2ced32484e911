-- Alert noise: alerts per fingerprint per ISO week (Monday) of first detection in [@start,
-- @end), with how often each re-fired (occurrences) and how many notifications noise control
-- held back. The noisiest fingerprints first within a week. Parameters: @start TIMESTAMP,
-- @end TIMESTAMP.
SELECT
  DATE_TRUNC(DATE(first_seen_at), WEEK(MONDAY)) AS week,
  fingerprint,
  ANY_VALUE(type) AS type,
  COUNT(*) AS alerts,
  SUM(occurrences) AS occurrences,
  SUM(suppressed_count) AS suppressed,
  COUNTIF(notified_at IS NOT NULL) AS notified
FROM alerts
WHERE first_seen_at >= @start AND first_seen_at < @end
GROUP BY week, fingerprint
ORDER BY week, alerts DESC, fingerprint
