"""Customers of the carrier: the directory (customers and their contacts) and the notices their
contacts get about their loads."""
