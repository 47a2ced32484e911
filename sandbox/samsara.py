"""Sandbox imitation of the samsara API."""

from fastapi import APIRouter

router = APIRouter(prefix="/samsara", tags=["samsara"])
