"""Routing budget benchmark on the sandbox fleet: PC*MILER requests per truck-hour with the
cached routes (logic/trips/route_cache.py) beside re-routing every pass, and the ETA error of
the cached miles against the re-routed ones, measured in the same run.

The fleet is the sandbox simulator's (the 25-truck `make run` fleet, seed 42); an evaluation pass
runs every `--every` minutes for `--hours` hours of simulated time over every active trip
(at pickup, in transit, at delivery), as the local scheduler does. PC*MILER is the sandbox's
own Mileage report, called in process and counted. Routes fetched after a pass serve the next
one, as in production. No database: the decisions are the same pure functions the pass uses.

Usage: .venv/bin/python bench/routing_bench.py [--trucks 25] [--hours 24] [--every 2]

`--smoke`: tiny sizes, a few seconds, only to prove it still runs (`make test` runs it so).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.support import parse_args
from logic.trips.route_cache import RouteBook, fetch_routes
from sandbox.lanes import ROAD_FACTOR, great_circle_miles
from sandbox.pcmiler import mileage_report
from sandbox.simulator import Simulator
from utils.pcmiler_client import GeoPoint, PcmilerClient

START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ACTIVE = {"AtPickup", "InTransit", "AtDelivery"}
SPEED_MPH = 50.0  # ETA_AVERAGE_SPEED_MPH's default: minutes = miles / speed


class CountingPcmiler:
    """The sandbox's Mileage report in process, parsed by the real client, counted."""

    def __init__(self) -> None:
        self.requests = 0
        # Never sends: only its parser is used on the sandbox's report body.
        self._parser = PcmilerClient(httpx.Client(base_url="http://127.0.0.1:9"))

    def mileage(self, points):
        self.requests += 1
        body = [mileage_report([(p.lat, p.lon) for p in points])]
        return self._parser._parse_mileage(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trucks", type=int, default=25)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--every", type=float, default=2.0, help="minutes between passes")
    parser.add_argument("--max-requests", type=int, default=25, help="per pass")
    args = parse_args(parser, smoke={"trucks": 3, "hours": 1.0})

    sim = Simulator(42, args.trucks, clock=lambda: START, start=START, history_hours=24)
    cached_vendor, fresh_vendor = CountingPcmiler(), CountingPcmiler()
    book = RouteBook.empty(START)
    errors_pct: list[float] = []
    errors_min: list[float] = []
    truck_hours = 0.0
    passes = 0
    step = timedelta(minutes=args.every)
    began = time.perf_counter()
    at = START
    while at < START + timedelta(hours=args.hours):
        passes += 1
        book.now, book.wanted = at, []
        for vehicle in sim.vehicles:
            trip = sim.current_trip(vehicle, at)
            if trip is None or trip.status_at(at) not in ACTIVE:
                continue
            truck_hours += args.every / 60
            stops = [(s.stop_key, s.city.lat, s.city.lon) for s in trip.stops if s.departed_at > at]
            pos = sim.position(vehicle, at)
            truck = (pos.latitude, pos.longitude)
            legs = book.legs(trip.trip_key, truck, stops)
            if legs is None:  # no route yet: the pass estimates by great circle
                legs = [great_circle_miles(*truck, stops[0][1], stops[0][2]) * ROAD_FACTOR]
                legs += [
                    great_circle_miles(a[1], a[2], b[1], b[2]) * ROAD_FACTOR
                    for a, b in itertools.pairwise(stops)
                ]
            # Always re-routing: one request per trip per pass (none at the stop itself).
            at_stop = great_circle_miles(*truck, stops[0][1], stops[0][2]) <= 1.0
            if at_stop:
                continue
            fresh = fresh_vendor.mileage([GeoPoint(*truck)] + [GeoPoint(s[1], s[2]) for s in stops])
            fresh_miles = fresh.miles
            if fresh_miles >= 10:
                cached_miles = sum(legs)
                errors_pct.append(abs(cached_miles - fresh_miles) / fresh_miles * 100)
                errors_min.append(abs(cached_miles - fresh_miles) / SPEED_MPH * 60)
        for route in fetch_routes(
            cached_vendor, book.wanted, now=at, max_requests=args.max_requests
        ):
            book.store(route)
        at += step
    elapsed = time.perf_counter() - began
    errors_pct.sort()
    p95 = errors_pct[int(len(errors_pct) * 0.95)] if errors_pct else 0.0
    print(
        f"{args.trucks} trucks, {args.hours:g} h simulated, a pass every {args.every:g} min "
        f"({passes} passes, {truck_hours:.0f} active truck-hours, {elapsed:.1f} s)"
    )
    fleet_hours = args.trucks * args.hours
    policies = (("always re-routing", fresh_vendor), ("cached routes    ", cached_vendor))
    for label, vendor in policies:
        print(
            f"{label}: {vendor.requests} PC*MILER requests = "
            f"{vendor.requests / fleet_hours:.2f} per truck-hour "
            f"({vendor.requests / truck_hours:.2f} per hour on an active trip)"
        )
    print(
        f"ETA error of cached vs re-routed miles over {len(errors_pct)} trip-passes: mean "
        f"{statistics.fmean(errors_pct):.2f} %, p95 {p95:.2f} %, max {errors_pct[-1]:.2f} %; "
        f"mean {statistics.fmean(errors_min):.1f} min"
    )


if __name__ == "__main__":
    main()
