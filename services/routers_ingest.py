"""The ingest service's routers, in one explicit list."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
