defmodule Realtime.Gateway.EventsTest do
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  alias Realtime.{Guild, JSON}
  alias Realtime.Guild.Placement

  @messages 1 <<< 9
  @content 1 <<< 15
  @members 1 <<< 1
  @presences 1 <<< 8
  @typing 1 <<< 11

  defp connected(port, token, intents) do
    c = Client.connect(port)
    ready = Client.identify(c, token, %{"intents" => intents})
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")
    c
  end

  defp rest(port, method, path, token, body \\ nil),
    do: Client.rest(port, method, path, token, body && JSON.encode(body))

  test "MESSAGE_UPDATE and MESSAGE_DELETE", %{port: port} do
    c = connected(port, @demo, 1 ||| @messages ||| @content)
    {200, _, m} = rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, %{"content" => "before"})
    Client.await_dispatch(c, "MESSAGE_CREATE")

    {200, _, edited} = rest(port, :patch, "/api/v10/channels/#{@general}/messages/#{m["id"]}", @demo, %{"content" => "after"})
    assert edited["content"] == "after" and is_binary(edited["edited_timestamp"])
    update = Client.await_dispatch(c, "MESSAGE_UPDATE")
    assert update["d"]["id"] == m["id"] and update["d"]["content"] == "after"

    # Only the author may edit.
    assert {403, _, %{"code" => 50_005}} = rest(port, :patch, "/api/v10/channels/#{@general}/messages/#{m["id"]}", @limited, %{"content" => "x"})

    {204, _, nil} = rest(port, :delete, "/api/v10/channels/#{@general}/messages/#{m["id"]}", @demo)
    assert Client.await_dispatch(c, "MESSAGE_DELETE")["d"] == %{"id" => m["id"], "channel_id" => to_string(@general), "guild_id" => to_string(@hq)}
    assert {404, _, %{"code" => 10_008}} = rest(port, :delete, "/api/v10/channels/#{@general}/messages/#{m["id"]}", @demo)
  end

  test "TYPING_START goes only to sessions with GUILD_MESSAGE_TYPING", %{port: port} do
    with_typing = connected(port, @demo, 1 ||| @typing)
    without = connected(port, @demo, 1 ||| @messages)
    {204, _, nil} = rest(port, :post, "/api/v10/channels/#{@general}/typing", @demo)
    typing = Client.await_dispatch(with_typing, "TYPING_START")
    assert typing["d"]["user_id"] == "1000000000000000001" and typing["d"]["channel_id"] == to_string(@general)
    assert Client.silent?(without, 200)
  end

  test "PRESENCE_UPDATE from op 3 reaches sessions with GUILD_PRESENCES", %{port: port} do
    watcher = connected(port, @demo, 1 ||| @presences)
    blind = connected(port, @demo, 1)
    limited = connected(port, @limited, 1)
    Client.send_frame(limited, 3, %{"status" => "idle", "activities" => [], "since" => nil, "afk" => false})
    p = Client.await_dispatch(watcher, "PRESENCE_UPDATE")
    assert p["d"]["user"]["id"] == "1000000000000000002" and p["d"]["status"] == "idle"
    assert Client.silent?(blind, 200)
  end

  test "CHANNEL_CREATE, CHANNEL_UPDATE and CHANNEL_DELETE, filtered by visibility", %{port: port} do
    demo = connected(port, @demo, 1)
    limited = connected(port, @limited, 1)
    {201, _, ch} = rest(port, :post, "/api/v10/guilds/#{@hq}/channels", @demo, %{"name" => "new-#{System.unique_integer([:positive])}"})
    assert Client.await_dispatch(demo, "CHANNEL_CREATE")["d"]["id"] == ch["id"]
    assert Client.await_dispatch(limited, "CHANNEL_CREATE")["d"]["id"] == ch["id"]

    # Hide it from @everyone, but not from the Bots role: the limited bot
    # gets the update (it saw the channel before) and nothing after.
    bots_role = "1100000000000000014"
    hide = [%{"id" => to_string(@hq), "type" => 0, "deny" => to_string(1 <<< 10)}, %{"id" => bots_role, "type" => 0, "allow" => to_string(1 <<< 10)}]
    {200, _, _} = rest(port, :patch, "/api/v10/channels/#{ch["id"]}", @demo, %{"permission_overwrites" => hide, "topic" => "hidden now"})
    assert Client.await_dispatch(demo, "CHANNEL_UPDATE")["d"]["topic"] == "hidden now"
    assert Client.await_dispatch(limited, "CHANNEL_UPDATE")["d"]["id"] == ch["id"]

    {200, _, _} = rest(port, :delete, "/api/v10/channels/#{ch["id"]}", @demo)
    assert Client.await_dispatch(demo, "CHANNEL_DELETE")["d"]["id"] == ch["id"]
    assert Client.silent?(limited, 200)
    assert {404, _, %{"code" => 10_003}} = rest(port, :get, "/api/v10/channels/#{ch["id"]}", @demo)
    # The limited bot may not manage channels.
    assert {403, _, %{"code" => 50_013}} = rest(port, :post, "/api/v10/guilds/#{@hq}/channels", @limited, %{"name" => "nope"})
    assert {400, _, %{"code" => 50_035}} = rest(port, :post, "/api/v10/guilds/#{@hq}/channels", @demo, %{"name" => ""})
  end

  test "GUILD_ROLE_CREATE and GUILD_ROLE_DELETE", %{port: port} do
    c = connected(port, @demo, 1)
    {200, _, role} = rest(port, :post, "/api/v10/guilds/#{@hq}/roles", @demo, %{"name" => "temp", "permissions" => "0", "hoist" => true})
    created = Client.await_dispatch(c, "GUILD_ROLE_CREATE")["d"]
    assert created["role"]["id"] == role["id"] and created["role"]["hoist"] == true
    {204, _, nil} = rest(port, :delete, "/api/v10/guilds/#{@hq}/roles/#{role["id"]}", @demo)
    assert Client.await_dispatch(c, "GUILD_ROLE_DELETE")["d"]["role_id"] == role["id"]
    assert {404, _, %{"code" => 10_011}} = rest(port, :delete, "/api/v10/guilds/#{@hq}/roles/#{role["id"]}", @demo)
  end

  test "GUILD_MEMBER_UPDATE, GUILD_MEMBER_REMOVE and GUILD_MEMBER_ADD to sessions with GUILD_MEMBERS", %{port: port} do
    on_exit(fn -> restore_guild(@hq) end)
    c = connected(port, @demo, 1 ||| @members)
    blind = connected(port, @demo, 1)
    member = 1_300_000_000_000_000_007
    {200, _, m} = rest(port, :patch, "/api/v10/guilds/#{@hq}/members/#{member}", @demo, %{"nick" => "Renamed"})
    assert m["nick"] == "Renamed"
    assert Client.await_dispatch(c, "GUILD_MEMBER_UPDATE")["d"]["nick"] == "Renamed"

    {204, _, nil} = rest(port, :delete, "/api/v10/guilds/#{@hq}/members/#{member}", @demo)
    assert Client.await_dispatch(c, "GUILD_MEMBER_REMOVE")["d"]["user"]["id"] == to_string(member)

    {:ok, hq} = Placement.lookup(@hq)
    {:ok, _} = Guild.add_member(hq, member)
    assert Client.await_dispatch(c, "GUILD_MEMBER_ADD")["d"]["user"]["id"] == to_string(member)
    assert Client.silent?(blind, 200)
    assert {404, _, %{"code" => 10_007}} = rest(port, :patch, "/api/v10/guilds/#{@hq}/members/42", @demo, %{"nick" => "x"})
  end
end
