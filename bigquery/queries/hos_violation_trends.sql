-- HOS violations per ISO week (Monday) and type for [@start, @end): how many, how many
-- drivers, total and average minutes. Parameters: @start TIMESTAMP, @end TIMESTAMP.
SELECT
  DATE_TRUNC(DATE(started_at), WEEK(MONDAY)) AS week,
  violation_type,
  COUNT(*) AS violations,
  COUNT(DISTINCT driver_id) AS drivers,
  SUM(COALESCE(duration_minutes, 0)) AS total_minutes,
  ROUND(AVG(duration_minutes), 1) AS avg_minutes
FROM hos_violations
WHERE started_at >= @start AND started_at < @end
GROUP BY week, violation_type
ORDER BY week, violation_type
