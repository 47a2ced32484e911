"""Sandbox imitation of the pcmiler API."""

from fastapi import APIRouter

router = APIRouter(prefix="/pcmiler", tags=["pcmiler"])
