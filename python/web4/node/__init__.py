"""The running node: the composition root (``Node``), its configuration, the link port
(RTT behind it), the dialler, the knowledge desk and the default agent. Per-peer sessions
are the CIP service's (``web4.cip.service``), the HCP/LIP side is ``web4.hcp.runtime``.

``Node(config, ...).run()`` is what ``web4 node`` runs; see ``web4.node.node``.
"""

from web4.lip import LipSettings
from web4.node.believer import BeliefAgent
from web4.node.config import AgentSettings, NodeConfig, load_config
from web4.node.desk import KnowledgeDesk
from web4.node.link import CHANNELS, LinkSession, LinkTransport, parse_multiaddr
from web4.node.node import JsonLinesSink, Node, StoreMemory
from web4.node.proposals import Proposal

__all__ = [
    "CHANNELS",
    "AgentSettings",
    "BeliefAgent",
    "JsonLinesSink",
    "KnowledgeDesk",
    "LinkSession",
    "LinkTransport",
    "LipSettings",
    "Node",
    "NodeConfig",
    "Proposal",
    "StoreMemory",
    "load_config",
    "parse_multiaddr",
]
