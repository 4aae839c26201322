"""Vast.ai host API: the typed client (`VastClient`), key loading (`load_api_key`), wire encodings."""

from hostagent.vast.auth import load_api_key
from hostagent.vast.client import VastClient, peer_query
from hostagent.vast.models import MachineReport, VastUser

__all__ = ["MachineReport", "VastClient", "VastUser", "load_api_key", "peer_query"]
