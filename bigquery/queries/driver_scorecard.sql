-- Driver scorecard for [@start, @end): deliveries and how many were on time, safety events (all,
-- high/critical, speeding), HOS violations and their minutes, and a 0-100 score
-- (100 - 10 per HOS violation - 5 per high/critical event - 2 per other event - 5 per late
-- delivery, floored at 0). Parameters: @start TIMESTAMP, @end TIMESTAMP.
WITH deliveries AS (
  SELECT
    t.driver_id,
    COUNT(*) AS deliveries,
    COUNTIF(s.arrived_at <= COALESCE(s.appointment_end, s.appointment_start)) AS on_time
  FROM trip_stops AS s
  JOIN trips AS t ON t.id = s.trip_id
  WHERE s.stop_type = 'delivery'
    AND s.arrived_at >= @start AND s.arrived_at < @end
    AND t.driver_id IS NOT NULL
  GROUP BY t.driver_id
),
events AS (
  SELECT
    driver_id,
    COUNT(*) AS safety_events,
    COUNTIF(severity IN ('high', 'critical')) AS severe_events,
    COUNTIF(LOWER(TO_JSON_STRING(behavior_labels)) LIKE '%speeding%') AS speeding_events
  FROM safety_events
  WHERE occurred_at >= @start AND occurred_at < @end AND driver_id IS NOT NULL
  GROUP BY driver_id
),
violations AS (
  SELECT driver_id, COUNT(*) AS hos_violations, SUM(COALESCE(duration_minutes, 0)) AS violation_minutes
  FROM hos_violations
  WHERE started_at >= @start AND started_at < @end
  GROUP BY driver_id
),
drivers AS (
  SELECT driver_id FROM deliveries
  UNION DISTINCT SELECT driver_id FROM events
  UNION DISTINCT SELECT driver_id FROM violations
)
SELECT
  d.driver_id,
  COALESCE(dl.deliveries, 0) AS deliveries,
  COALESCE(dl.on_time, 0) AS on_time_deliveries,
  COALESCE(e.safety_events, 0) AS safety_events,
  COALESCE(e.severe_events, 0) AS severe_events,
  COALESCE(e.speeding_events, 0) AS speeding_events,
  COALESCE(v.hos_violations, 0) AS hos_violations,
  COALESCE(v.violation_minutes, 0) AS violation_minutes,
  GREATEST(
    0,
    100
      - 10 * COALESCE(v.hos_violations, 0)
      - 5 * COALESCE(e.severe_events, 0)
      - 2 * (COALESCE(e.safety_events, 0) - COALESCE(e.severe_events, 0))
      - 5 * (COALESCE(dl.deliveries, 0) - COALESCE(dl.on_time, 0))
  ) AS score
FROM drivers AS d
LEFT JOIN deliveries AS dl ON dl.driver_id = d.driver_id
LEFT JOIN events AS e ON e.driver_id = d.driver_id
LEFT JOIN violations AS v ON v.driver_id = d.driver_id
ORDER BY score, d.driver_id
