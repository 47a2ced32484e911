"""Sandbox imitation of the weather API."""

from fastapi import APIRouter

router = APIRouter(prefix="/weather", tags=["weather"])
