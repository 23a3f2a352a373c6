"""What the discord.py peers share: pointing an unmodified discord.py at our
gateway and REST base, and running a client to the end with a bound on time.
Import it after any change to sys.modules that must precede discord."""
import asyncio
import json

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route


def client(port):
    """A discord.Client aimed at 127.0.0.1:port with the default intents plus
    message content and members; nothing else of discord.py is changed."""
    Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/")
    intents = discord.Intents.default()
    intents.message_content = True
    intents.members = True
    return discord.Client(intents=intents)


def run(client, token, seen, timeout):
    """Runs the client until it closes (or `timeout` seconds pass), then
    prints what it saw as one JSON line."""

    async def main():
        async with client:
            await asyncio.wait_for(client.start(token), timeout=timeout)

    asyncio.run(main())
    print(json.dumps(seen, sort_keys=True))
