"""Real US freight cities (coordinates, a street address, time zone) the simulated fleet
runs between."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    state: str
    lat: float
    lon: float
    zip: str
    address: str
    timezone: str


CITIES: tuple[City, ...] = (
    City("Atlanta", "GA", 33.7490, -84.3880, "30303", "180 Peachtree St NW", "America/New_York"),
    City("Charlotte", "NC", 35.2271, -80.8431, "28202", "400 S Tryon St", "America/New_York"),
    City("Jacksonville", "FL", 30.3322, -81.6557, "32202", "117 W Duval St", "America/New_York"),
    City("Orlando", "FL", 28.5384, -81.3789, "32801", "400 S Orange Ave", "America/New_York"),
    City("Miami", "FL", 25.7617, -80.1918, "33128", "111 NW 1st St", "America/New_York"),
    City("Richmond", "VA", 37.5407, -77.4360, "23219", "900 E Broad St", "America/New_York"),
    City("Harrisburg", "PA", 40.2732, -76.8867, "17101", "10 N 2nd St", "America/New_York"),
    City("Newark", "NJ", 40.7357, -74.1724, "07102", "920 Broad St", "America/New_York"),
    City("Columbus", "OH", 39.9612, -82.9988, "43215", "90 W Broad St", "America/New_York"),
    City(
        "Indianapolis",
        "IN",
        39.7684,
        -86.1581,
        "46204",
        "200 E Washington St",
        "America/Indiana/Indianapolis",
    ),
    City(
        "Louisville",
        "KY",
        38.2527,
        -85.7585,
        "40202",
        "527 W Jefferson St",
        "America/Kentucky/Louisville",
    ),
    City("Nashville", "TN", 36.1627, -86.7816, "37201", "1 Public Sq", "America/Chicago"),
    City("Memphis", "TN", 35.1495, -90.0490, "38103", "125 N Main St", "America/Chicago"),
    City("Chicago", "IL", 41.8781, -87.6298, "60602", "121 N LaSalle St", "America/Chicago"),
    City("St. Louis", "MO", 38.6270, -90.1994, "63103", "1200 Market St", "America/Chicago"),
    City("Kansas City", "MO", 39.0997, -94.5786, "64106", "414 E 12th St", "America/Chicago"),
    City("Minneapolis", "MN", 44.9778, -93.2650, "55415", "350 S 5th St", "America/Chicago"),
    City("Omaha", "NE", 41.2565, -95.9345, "68183", "1819 Farnam St", "America/Chicago"),
    City("Dallas", "TX", 32.7767, -96.7970, "75201", "1500 Marilla St", "America/Chicago"),
    City("Houston", "TX", 29.7604, -95.3698, "77002", "901 Bagby St", "America/Chicago"),
    City("San Antonio", "TX", 29.4241, -98.4936, "78205", "100 Military Plaza", "America/Chicago"),
    City("Laredo", "TX", 27.5036, -99.5075, "78040", "1110 Houston St", "America/Chicago"),
    City("Oklahoma City", "OK", 35.4676, -97.5164, "73102", "200 N Walker Ave", "America/Chicago"),
    City("New Orleans", "LA", 29.9511, -90.0715, "70112", "1300 Perdido St", "America/Chicago"),
    City("Denver", "CO", 39.7392, -104.9903, "80202", "1437 Bannock St", "America/Denver"),
    City("Albuquerque", "NM", 35.0844, -106.6504, "87102", "1 Civic Plaza NW", "America/Denver"),
    City("Salt Lake City", "UT", 40.7608, -111.8910, "84111", "451 S State St", "America/Denver"),
    City("El Paso", "TX", 31.7619, -106.4850, "79901", "300 N Campbell St", "America/Denver"),
    City("Phoenix", "AZ", 33.4484, -112.0740, "85003", "200 W Washington St", "America/Phoenix"),
    City("Las Vegas", "NV", 36.1699, -115.1398, "89101", "495 S Main St", "America/Los_Angeles"),
    City(
        "Los Angeles", "CA", 34.0522, -118.2437, "90012", "200 N Spring St", "America/Los_Angeles"
    ),
    City("Ontario", "CA", 34.0633, -117.6509, "91764", "303 E B St", "America/Los_Angeles"),
    City("Sacramento", "CA", 38.5816, -121.4944, "95814", "915 I St", "America/Los_Angeles"),
    City("Portland", "OR", 45.5152, -122.6784, "97204", "1221 SW 4th Ave", "America/Los_Angeles"),
    City("Seattle", "WA", 47.6062, -122.3321, "98104", "600 4th Ave", "America/Los_Angeles"),
)

# Road miles run longer than great-circle miles; 1.2 is the usual US freight rule of thumb.
ROAD_FACTOR = 1.2
MIN_LANE_MILES = 180.0
MAX_LANE_MILES = 1100.0


def great_circle_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 3958.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def bearing_degrees(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def road_miles(a: City, b: City) -> float:
    return great_circle_miles(a.lat, a.lon, b.lat, b.lon) * ROAD_FACTOR


def lanes_from(origin: City) -> list[City]:
    """Destinations a truck can reasonably be dispatched to from `origin` (one to two days out)."""
    return [
        c
        for c in CITIES
        if c != origin and MIN_LANE_MILES <= road_miles(origin, c) <= MAX_LANE_MILES
    ]
