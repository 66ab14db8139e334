"""Local stand-ins for outside services the end-to-end tests talk to (LLM providers)."""
