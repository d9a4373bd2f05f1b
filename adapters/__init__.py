"""Chat platform adapters: the only code that imports discord.py or slack-bolt."""
