"""llm: an example agent whose reasoning is a language model behind the OpenAI-compatible
chat-completions API (see README.md)."""
