-- On-time delivery % for [@start, @end) by customer, by terminal and by lane (first pickup's
-- state -> last delivery's state), one row per (dimension, value). A delivery stop is on time
-- when it arrived by the end of its appointment window (its start when there is no end).
-- Parameters: @start TIMESTAMP, @end TIMESTAMP.
WITH delivered AS (
  SELECT s.trip_id, s.arrived_at <= COALESCE(s.appointment_end, s.appointment_start) AS on_time
  FROM trip_stops AS s
  WHERE s.stop_type = 'delivery' AND s.arrived_at >= @start AND s.arrived_at < @end
),
ends AS (
  SELECT
    trip_id,
    MIN(IF(stop_type = 'pickup', sequence, NULL)) AS first_pickup,
    MAX(IF(stop_type = 'delivery', sequence, NULL)) AS last_delivery
  FROM trip_stops
  GROUP BY trip_id
),
facts AS (
  SELECT
    COALESCE(t.customer, '(none)') AS customer,
    COALESCE(t.terminal, '(none)') AS terminal,
    CONCAT(COALESCE(origin.state, '?'), '->', COALESCE(destination.state, '?')) AS lane,
    d.on_time
  FROM delivered AS d
  JOIN trips AS t ON t.id = d.trip_id
  JOIN ends AS e ON e.trip_id = d.trip_id
  LEFT JOIN trip_stops AS origin ON origin.trip_id = e.trip_id AND origin.sequence = e.first_pickup
  LEFT JOIN trip_stops AS destination
    ON destination.trip_id = e.trip_id AND destination.sequence = e.last_delivery
)
SELECT dimension, value, deliveries, on_time, ROUND(100 * on_time / deliveries, 1) AS on_time_pct
FROM (
  SELECT 'customer' AS dimension, customer AS value, COUNT(*) AS deliveries, COUNTIF(on_time) AS on_time
  FROM facts GROUP BY customer
  UNION ALL
  SELECT 'terminal', terminal, COUNT(*), COUNTIF(on_time) FROM facts GROUP BY terminal
  UNION ALL
  SELECT 'lane', lane, COUNT(*), COUNTIF(on_time) FROM facts GROUP BY lane
)
ORDER BY dimension, value
