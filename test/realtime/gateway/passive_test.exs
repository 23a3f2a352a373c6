defmodule Realtime.Gateway.PassiveTest do
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  alias Realtime.Guild

  @ada 1_200_000_000_000_000_001
  @bots_role 1_100_000_000_000_000_014
  @demo_id 1_000_000_000_000_000_001

  setup do
    # Make the 1,204-member guild "very large" (Discord's line is 75,000).
    Application.put_env(:realtime, :passive_members, 1_000)
    Application.put_env(:realtime, :passive_update_ms, 100)

    on_exit(fn ->
      Application.delete_env(:realtime, :passive_members)
      Application.delete_env(:realtime, :passive_update_ms)
      restore_guild(@hq)
    end)

    # The guild picks the new period up from its next restart.
    restore_guild(@hq)
    :ok
  end

  defp connected(port, extra \\ %{}) do
    c = Client.connect(port)
    ready = Client.identify(c, @demo, Map.merge(%{"intents" => 513 ||| 1 <<< 15 ||| 1 <<< 8}, extra))
    creates = for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")
    {c, creates}
  end

  defp post(content), do: elem(Guild.create_message(guild_pid(@hq), @general, @ada, content), 1)

  test "passive sessions get only messages that mention them, and PASSIVE_UPDATE_V2 deltas", %{port: port} do
    {c, _} = connected(port)
    plain = post("nothing for bots")
    mention = post("hey <@#{@demo_id}>")
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == mention["id"]
    role = post("ping <@&#{@bots_role}>")
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == role["id"]
    everyone = post("@everyone release day")
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == everyone["id"]

    update = Client.await_dispatch(c, "PASSIVE_UPDATE_V2")["d"]
    assert update["guild_id"] == to_string(@hq)
    assert [%{"id" => general, "last_message_id" => last}] = update["updated_channels"]
    assert general == to_string(@general)
    assert last in [plain["id"], mention["id"], role["id"], everyone["id"]]
    assert update["removed_voice_states"] == [] and update["updated_voice_states"] == []

    Guild.update_presence(guild_pid(@hq), 1_300_000_000_000_000_003, %{"status" => "online", "activities" => []})
    assert Client.silent?(c, 50)
    update = Client.await_dispatch(c, "PASSIVE_UPDATE_V2")["d"]
    assert Enum.map(update["updated_members"], & &1["user"]["id"]) == ["1300000000000000003"]
  end

  test "subscribing to the member list makes a session active", %{port: port} do
    {c, _} = connected(port)
    Client.send_frame(c, 14, %{"guild_id" => to_string(@hq), "channels" => %{to_string(@general) => [[0, 99]]}})
    Client.await_dispatch(c, "GUILD_MEMBER_LIST_UPDATE")
    plain = post("now everyone sees this")
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == plain["id"]
    Guild.update_presence(guild_pid(@hq), 1_300_000_000_000_000_004, %{"status" => "idle", "activities" => []})
    assert Client.await_dispatch(c, "PRESENCE_UPDATE")["d"]["user"]["id"] == "1300000000000000004"
  end

  test "a large guild's GUILD_CREATE carries only online members, and their presences", %{port: port} do
    Guild.update_presence(guild_pid(@hq), 1_300_000_000_000_000_005, %{"status" => "online", "activities" => []})
    {_c, creates} = connected(port, %{"intents" => 513 ||| 2 ||| 1 <<< 8})
    hq_create = Enum.find(creates, &(&1["d"]["id"] == to_string(@hq)))["d"]
    assert hq_create["large"] == true and hq_create["member_count"] == 1204
    ids = Enum.map(hq_create["members"], & &1["user"]["id"]) |> Enum.sort()
    assert "1300000000000000005" in ids and to_string(@demo_id) in ids
    assert length(ids) < 10
    assert Enum.any?(hq_create["presences"], &(&1["user"]["id"] == "1300000000000000005"))
  end
end
