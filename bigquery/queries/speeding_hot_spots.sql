-- Where trucks speed: GPS points at or above @min_speed_mph in [@start, @end), snapped to a grid
-- of @cell_degrees, busiest cells first (at most @max_cells). `cell` is the cell's centre as a
-- GEOGRAPHY (for BigQuery GeoViz / Looker maps); a GEOGRAPHY cannot be grouped on, so cells are
-- grouped by their coordinates. Parameters: @start TIMESTAMP, @end TIMESTAMP,
-- @min_speed_mph FLOAT64, @cell_degrees FLOAT64, @max_cells INT64.
WITH fast AS (
  SELECT
    vehicle_id,
    speed_mph,
    ST_SNAPTOGRID(ST_GEOGPOINT(longitude, latitude), @cell_degrees) AS snapped
  FROM vehicle_locations
  WHERE recorded_at >= @start AND recorded_at < @end AND speed_mph >= @min_speed_mph
),
cells AS (
  SELECT
    ROUND(ST_X(snapped), 6) AS cell_longitude,
    ROUND(ST_Y(snapped), 6) AS cell_latitude,
    COUNT(*) AS points,
    COUNT(DISTINCT vehicle_id) AS vehicles,
    MAX(speed_mph) AS max_speed_mph,
    ROUND(AVG(speed_mph), 1) AS avg_speed_mph
  FROM fast
  GROUP BY cell_longitude, cell_latitude
)
SELECT
  cell_longitude,
  cell_latitude,
  ST_GEOGPOINT(cell_longitude, cell_latitude) AS cell,
  points,
  vehicles,
  max_speed_mph,
  avg_speed_mph
FROM cells
ORDER BY points DESC, cell_longitude, cell_latitude
LIMIT @max_cells
