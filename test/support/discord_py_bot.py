"""End-to-end peer: an unmodified discord.py bot against the gateway.

    python discord_py_bot.py MODE PORT TOKEN CHANNEL_ID

MODE is zlib-stream or zstd-stream: discord.py uses zstd-stream when the
zstandard package imports, else zlib-stream, so for zlib it is hidden.
Prints one JSON line with what the bot saw, then exits.
"""
import sys

mode, port, token, channel_id = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "zlib-stream":
    sys.modules["zstandard"] = None

import discord  # noqa: E402
import discord_py_peer  # noqa: E402

client = discord_py_peer.client(port)
seen = {"compression": discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE}
CONTENT = "hello from discord.py"


@client.event
async def on_ready():
    seen["user"] = client.user.name
    seen["guilds"] = sorted(g.name for g in client.guilds)
    seen["channels"] = sorted(c.name for g in client.guilds for c in g.channels)
    seen["member_counts"] = sorted(len(g.members) for g in client.guilds)
    channel = client.get_channel(channel_id)
    sent = await channel.send(CONTENT)
    seen["sent_id"] = str(sent.id)
    # The gateway's MESSAGE_CREATE can come before the REST answer: whichever
    # is second ends the run.
    if "received_id" in seen:
        await client.close()


@client.event
async def on_message(message):
    if message.author.id == client.user.id and message.content == CONTENT:
        seen["received_id"] = str(message.id)
        if "sent_id" in seen:
            await client.close()


discord_py_peer.run(client, token, seen, timeout=60)
