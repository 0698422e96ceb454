"""The OpenAI-compatible chat gateway: real SDK, real HTTP, scripted upstream vendors."""
