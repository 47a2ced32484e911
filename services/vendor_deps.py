"""Provider dependencies for vendor clients, built from settings per request and closed after.

Tests and the local run swap them with `app.dependency_overrides[get_pcmiler_client] = ...`.
A vendor without its key configured answers 503 `upstream_not_configured` naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Annotated

from fastapi import BackgroundTasks, Depends

from config import Settings, get_settings
from logic.calls.placement import CallingPolicy
from logic.calls.service import calling_policy, dial_after_commit
from logic.calls.voice.registry import CallProviders
from utils.pcmiler_client import PcmilerClient, build_pcmiler_client
from utils.slack_client import SlackClient, build_slack_client
from utils.weather_api import WeatherClient, build_weather_client


async def current_settings() -> Settings:
    """The settings as a dependency: async, so it costs no worker-thread hand-off per request
    (a plain function dependency runs in the thread pool). Tests override this one."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(current_settings)]


def get_pcmiler_client(settings: SettingsDep) -> Iterator[PcmilerClient]:
    with closing(build_pcmiler_client(settings)) as client:
        yield client


def get_weather_client(settings: SettingsDep) -> Iterator[WeatherClient]:
    with closing(build_weather_client(settings)) as client:
        yield client


def get_slack_client(settings: SettingsDep) -> SlackClient:
    # slack_sdk opens a urllib connection per call: nothing to close.
    return build_slack_client(settings)


def get_call_providers(settings: SettingsDep) -> Iterator[CallProviders]:
    """The registered voice providers, each built on first use (one never needs another's key)."""
    providers = CallProviders.from_settings(settings)
    try:
        yield providers
    finally:
        providers.close()


@dataclass(frozen=True)
class Dialing:
    """A placing route's calling policy, and its dial of the calls it queued once the response
    is sent (after the request's commit, outside every transaction)."""

    settings: Settings
    background: BackgroundTasks

    @property
    def policy(self) -> CallingPolicy:
        return calling_policy(self.settings)

    def after_commit(self, call_ids: Sequence[int]) -> None:
        if call_ids:
            self.background.add_task(dial_after_commit, list(call_ids), self.settings)


async def get_dialing(settings: SettingsDep, background: BackgroundTasks) -> Dialing:
    return Dialing(settings, background)


PcmilerDep = Annotated[PcmilerClient, Depends(get_pcmiler_client)]
WeatherDep = Annotated[WeatherClient, Depends(get_weather_client)]
SlackDep = Annotated[SlackClient, Depends(get_slack_client)]
CallProvidersDep = Annotated[CallProviders, Depends(get_call_providers)]
DialingDep = Annotated[Dialing, Depends(get_dialing)]
