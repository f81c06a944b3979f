"""The project's only door to Synapse: building a client, and the calls the steps need.

Nothing outside this package imports synapseclient. Every client is built the same way
(``client.connect``): no network in the constructor, no process-global cached client, no
``~/.synapseConfig`` that could override the token we were given.
"""
