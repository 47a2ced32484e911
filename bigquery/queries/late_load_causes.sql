-- Why loads run late, from what drivers told AI calls in [@start, @end): one row per cause
-- (`call_insights.issues`, e.g. traffic, shipper_delay) with how many calls reported it, on how
-- many trips and for how many customers, and the average delay drivers reported.
-- Parameters: @start TIMESTAMP, @end TIMESTAMP.
WITH reported AS (
  SELECT ci.call_id, ci.trip_id, ci.reported_delay_minutes, cause
  FROM call_insights AS ci
  CROSS JOIN UNNEST(JSON_VALUE_ARRAY(ci.issues)) AS cause
  WHERE ci.created_at >= @start AND ci.created_at < @end
)
SELECT
  r.cause,
  COUNT(DISTINCT r.call_id) AS calls,
  COUNT(DISTINCT r.trip_id) AS trips,
  COUNT(DISTINCT t.customer) AS customers,
  ROUND(AVG(r.reported_delay_minutes), 1) AS avg_reported_delay_minutes
FROM reported AS r
LEFT JOIN trips AS t ON t.id = r.trip_id
GROUP BY r.cause
ORDER BY calls DESC, r.cause
