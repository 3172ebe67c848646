"""llm: an example agent whose reasoning is a language model behind the OpenAI-compatible
chat-completions API (see README.md). ``web4 node --agent examples/llm:make
--agent-opt url=http://127.0.0.1:11434/v1 --agent-opt model=NAME``."""

from .agent import LlmAgent, make

__all__ = ["LlmAgent", "make"]
