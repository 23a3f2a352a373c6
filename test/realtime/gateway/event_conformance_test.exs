defmodule Realtime.Gateway.EventConformanceTest do
  @moduledoc """
  The objects inside gateway events, validated against the schemas of
  Discord's OpenAPI spec (`Realtime.Test.Schema`): users, guilds, members,
  roles, channels and messages, in JSON and in ETF (decoded by OTP's own
  `binary_to_term`, then validated), for both guilds, the large one's
  members included (through op 8 chunks).
  """
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.{Guild, JSON}
  alias Realtime.Guild.Placement
  alias Realtime.Test.Schema

  # GUILDS, GUILD_MEMBERS, GUILD_PRESENCES, GUILD_MESSAGES,
  # GUILD_MESSAGE_REACTIONS, GUILD_MESSAGE_TYPING, MESSAGE_CONTENT
  @intents 36_611
  @member 1_300_000_000_000_000_009
  @moderator_role 1_100_000_000_000_000_012
  @side_chat 1_100_000_000_000_000_301
  @expected ~w(READY GUILD_CREATE GUILD_MEMBERS_CHUNK MESSAGE_CREATE MESSAGE_UPDATE MESSAGE_REACTION_ADD
               MESSAGE_REACTION_REMOVE TYPING_START GUILD_MEMBER_UPDATE GUILD_MEMBER_REMOVE GUILD_MEMBER_ADD
               CHANNEL_CREATE CHANNEL_UPDATE CHANNEL_DELETE GUILD_ROLE_CREATE GUILD_ROLE_UPDATE GUILD_ROLE_DELETE
               MESSAGE_DELETE)

  setup do
    on_exit(fn -> restore_guild(@hq) end)
  end

  # The spec's schema for each object an event carries.
  defp objects("READY", d), do: [{"UserPIIResponse", d["user"]}]

  defp objects("GUILD_CREATE", d) do
    [{"GuildResponse", d}] ++
      Enum.map(d["members"], &{"GuildMemberResponse", &1}) ++ Enum.map(d["channels"], &{"GuildChannelResponse", &1})
  end

  defp objects("GUILD_MEMBERS_CHUNK", d), do: Enum.map(d["members"], &{"GuildMemberResponse", &1})

  # A message's member is the author's, without the user (Discord's rule
  # for messages); it is validated with the author put back.
  defp objects(t, d) when t in ["MESSAGE_CREATE", "MESSAGE_UPDATE"],
    do: [{"MessageResponse", d}, {"GuildMemberResponse", Map.put(d["member"], "user", d["author"])}]

  defp objects("MESSAGE_REACTION_ADD", d), do: [{"GuildMemberResponse", d["member"]}, {"MessageReactionEmojiResponse", d["emoji"]}]
  defp objects("MESSAGE_REACTION_REMOVE", d), do: [{"MessageReactionEmojiResponse", d["emoji"]}]
  defp objects("TYPING_START", d), do: [{"GuildMemberResponse", d["member"]}]
  defp objects(t, d) when t in ["GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE"], do: [{"GuildMemberResponse", Map.delete(d, "guild_id")}]
  defp objects("GUILD_MEMBER_REMOVE", d), do: [{"UserResponse", d["user"]}]
  defp objects(t, d) when t in ["CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE"], do: [{"GuildChannelResponse", d}]
  defp objects(t, d) when t in ["GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE"], do: [{"GuildRoleResponse", d["role"]}]
  defp objects(_t, _d), do: []

  defp rest(port, method, path, body \\ nil) do
    {status, _, reply} = Client.rest(port, method, "/api/v10" <> path, @demo, body && JSON.encode(body))
    assert status in 200..204, "#{method} #{path}: #{status} #{inspect(reply)}"
    reply
  end

  # Reads dispatches until `n` of type `t` have come; returns them all.
  defp dispatches(c, t, n, acc \\ [])
  defp dispatches(_c, _t, 0, acc), do: Enum.reverse(acc)

  defp dispatches(c, t, n, acc) do
    case Client.recv(c, 5_000) do
      {:frame, %{"op" => 0, "t" => ^t} = f} -> dispatches(c, t, n - 1, [f | acc])
      {:frame, %{"op" => 0} = f} -> dispatches(c, t, n, [f | acc])
      {:frame, _} -> dispatches(c, t, n, acc)
      {:close, code} -> flunk("closed with #{inspect(code)}")
    end
  end

  defp identify(port, encoding) do
    c = Client.connect(port, encoding: encoding)
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 2, %{"token" => @demo, "intents" => @intents, "properties" => %{"os" => "linux", "browser" => "t", "device" => "t"}})
    c
  end

  test "every object in every event validates against the spec, in JSON and ETF", %{port: port} do
    clients = for enc <- [:json, :etf], do: {enc, identify(port, enc)}
    # Both sessions are in both guilds, with every member, before anything happens.
    joined = for {_, c} <- clients, do: dispatches(c, "GUILD_CREATE", 2)
    for {_, c} <- clients, do: Client.send_frame(c, 8, %{"guild_id" => to_string(@hq), "query" => "", "limit" => 0})
    chunks = for {_, c} <- clients, do: dispatches(c, "GUILD_MEMBERS_CHUNK", 2)

    m = rest(port, :post, "/channels/#{@general}/messages", %{"content" => "hello <@#{1_200_000_000_000_000_001}>", "nonce" => 7})
    rest(port, :patch, "/channels/#{@general}/messages/#{m["id"]}", %{"content" => "edited <@&#{@moderator_role}>"})
    rest(port, :put, "/channels/#{@general}/messages/#{m["id"]}/reactions/%E2%9C%85/@me")
    rest(port, :delete, "/channels/#{@general}/messages/#{m["id"]}/reactions/%E2%9C%85/@me")
    rest(port, :post, "/channels/#{@general}/typing")
    rest(port, :patch, "/guilds/#{@hq}/members/#{@member}", %{"nick" => "Conformant", "roles" => [to_string(@moderator_role)]})
    rest(port, :delete, "/guilds/#{@hq}/members/#{@member}")
    {:ok, hq} = Placement.lookup(@hq)
    {:ok, _} = Guild.add_member(hq, @member)
    ch = rest(port, :post, "/guilds/#{@hq}/channels", %{"name" => "conformance", "type" => 0, "topic" => "t"})
    rest(port, :patch, "/channels/#{ch["id"]}", %{"name" => "conformance-2"})
    rest(port, :delete, "/channels/#{ch["id"]}")
    role = rest(port, :post, "/guilds/#{@hq}/roles", %{"name" => "conformance", "hoist" => true, "color" => 3_447_003})
    :ok = Guild.update_role_permissions(hq, String.to_integer(role["id"]), 1024)
    rest(port, :delete, "/guilds/#{@hq}/roles/#{role["id"]}")
    rest(port, :delete, "/channels/#{@general}/messages/#{m["id"]}")
    rest(port, :post, "/channels/#{@side_chat}/messages", %{"content" => "in the small guild"})
    rest(port, :post, "/channels/#{@general}/messages", %{"content" => "conformance-end"})
    # The closing message is the third MESSAGE_CREATE each session sees.
    rest = for {_, c} <- clients, do: dispatches(c, "MESSAGE_CREATE", 3)

    for {{enc, _}, events} <- Enum.zip(clients, Enum.zip_with([joined, chunks, rest], &Enum.concat/1)) do
      seen = events |> Enum.map(& &1["t"]) |> MapSet.new()
      assert MapSet.subset?(MapSet.new(@expected), seen), "#{enc}: missing #{inspect(Enum.reject(@expected, &(&1 in seen)))}"

      failures =
        for %{"t" => t, "d" => d} <- events, {schema, object} <- objects(t, d), errors <- [Schema.errors(schema, object)], errors != [] do
          "#{enc} #{t} #{schema}:\n  " <> Enum.join(errors, "\n  ")
        end

      assert failures == [], Enum.join(Enum.take(failures, 5), "\n")
    end
  end
end
