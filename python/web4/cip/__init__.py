"""CIP/1.0, agent to agent: typed messages, builder, validator and handshake.

See ``docs/CIP_SPEC.md`` for the normative description.
"""
