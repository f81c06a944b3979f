"""A local stand-in for the subset of the Synapse REST API that htan-submission calls.

Shaped like a moto service: ``models`` hold the state (users, entities, file handles,
annotations, ACLs, schemas, record sets), ``routes`` expose it with Synapse's paths, JSON field
names, status codes and ``{"reason": ...}`` error bodies, ``storage`` keeps uploaded bytes,
``faults`` injects 429/5xx/latency/dropped connections, and ``server`` runs it.

It is judged by one thing: the real synapseclient works against it as against synapse.org for
every call this project makes, and fails the same way where Synapse would refuse.
"""

from synapse_emulator.server import create_app

__all__ = ["create_app"]
