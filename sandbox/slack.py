"""Sandbox imitation of the slack API."""

from fastapi import APIRouter

router = APIRouter(prefix="/slack", tags=["slack"])
