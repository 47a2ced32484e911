"""Sandbox imitation of the elevenlabs API."""

from fastapi import APIRouter

router = APIRouter(prefix="/elevenlabs", tags=["elevenlabs"])
