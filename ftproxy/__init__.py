"""ftproxy: an LLM gateway for SAP AI Core, built for free-threaded Python.

OpenAI- and Anthropic-speaking clients call ftproxy; it authenticates them, holds the SAP OAuth
credentials of one or more subaccounts, picks a deployment, converts formats both ways and
streams GPT, Claude and Gemini answers back.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
