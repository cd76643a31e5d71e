"""Typed application state shared by the app factory and the shop areas."""

from __future__ import annotations

from aiohttp import web

from jaan.db.pool import Database
from jaan.db.replicas import ReadReplicas
from jaan.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DATABASE: web.AppKey[Database] = web.AppKey("database", Database)
# Present only when DATABASE_REPLICA_URL names replicas.
REPLICAS: web.AppKey[ReadReplicas] = web.AppKey("replicas", ReadReplicas)
