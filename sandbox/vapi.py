"""Sandbox imitation of the vapi API."""

from fastapi import APIRouter

router = APIRouter(prefix="/vapi", tags=["vapi"])
