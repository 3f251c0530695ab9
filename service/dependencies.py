"""What handlers may ask for: the store and the settings, opened in the lifespan and kept on app.state."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from service.settings import Settings
from store import Store

StoreDep = NamedDependency[Store]
SettingsDep = NamedDependency[Settings]


def _provide_store(state: State) -> Store:
    return state.store


def _provide_settings(state: State) -> Settings:
    return state.settings


DEPENDENCIES = {
    "store": Provide(_provide_store, sync_to_thread=False),
    "settings": Provide(_provide_settings, sync_to_thread=False),
}
