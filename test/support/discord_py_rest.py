"""End-to-end peer: an unmodified discord.py bot using the REST routes bots call.

    python discord_py_rest.py PORT TOKEN GUILD_ID CHANNEL_ID MEMBER_ID SENDS

Sends SENDS messages in a row (the test lowers that route's rate limit, so
discord.py has to wait for its bucket), pages the history, fetches a
message, reacts and unreacts (waiting for the gateway events), and fetches
the guild, its channels, roles, one member and all members. Prints one JSON
line with what it saw, then exits. Any exception fails the run.
"""
import asyncio
import sys
import time

import discord_py_peer

port, token = sys.argv[1], sys.argv[2]
guild_id, channel_id, member_id, sends = (int(a) for a in sys.argv[3:7])
client = discord_py_peer.client(port)
seen = {}
reaction_events = asyncio.Queue()


@client.event
async def on_raw_reaction_add(payload):
    await reaction_events.put(("add", str(payload.emoji), payload.message_id))


@client.event
async def on_raw_reaction_remove(payload):
    await reaction_events.put(("remove", str(payload.emoji), payload.message_id))


async def exercise():
    channel = client.get_channel(channel_id)

    start = time.monotonic()
    sent = [await channel.send(f"rest {i}") for i in range(sends)]
    seen["send_seconds"] = time.monotonic() - start
    seen["sent"] = [str(m.id) for m in sent]

    seen["latest"] = [str(m.id) async for m in channel.history(limit=sends)]
    seen["after_first"] = [str(m.id) async for m in channel.history(limit=2, after=sent[0])]
    seen["before_last"] = [str(m.id) async for m in channel.history(limit=2, before=sent[-1])]
    seen["around"] = [str(m.id) async for m in channel.history(limit=3, around=sent[2])]

    fetched = await channel.fetch_message(sent[1].id)
    seen["fetched"] = fetched.content

    await fetched.add_reaction("👍")
    seen["reaction_add_event"] = list(await asyncio.wait_for(reaction_events.get(), 10))
    again = await channel.fetch_message(fetched.id)
    seen["reactions"] = [(str(r.emoji), r.count, r.me) for r in again.reactions]
    await fetched.remove_reaction("👍", client.user)
    seen["reaction_remove_event"] = list(await asyncio.wait_for(reaction_events.get(), 10))

    guild = await client.fetch_guild(guild_id, with_counts=True)
    seen["guild"] = [guild.name, guild.approximate_member_count]
    seen["channels"] = sorted(c.name for c in await guild.fetch_channels())
    seen["roles"] = sorted(r.name for r in await guild.fetch_roles())
    member = await guild.fetch_member(member_id)
    seen["member"] = member.name
    seen["members"] = len([m async for m in guild.fetch_members(limit=None)])


@client.event
async def on_ready():
    try:
        await exercise()
    finally:
        await client.close()


discord_py_peer.run(client, token, seen, timeout=90)
