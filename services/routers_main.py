"""The main API's routers, in one explicit list (order = order in the OpenAPI docs)."""

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
