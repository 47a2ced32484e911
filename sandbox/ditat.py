"""Sandbox imitation of the ditat API."""

from fastapi import APIRouter

router = APIRouter(prefix="/ditat", tags=["ditat"])
