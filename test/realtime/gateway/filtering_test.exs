defmodule Realtime.Gateway.FilteringTest do
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  alias Realtime.Guild
  alias Realtime.Guild.Permissions

  @ada 1_200_000_000_000_000_001

  defp post_as_ada(channel, content) do
    {:ok, msg} = Guild.create_message(guild_pid(@hq), channel, @ada, content)
    msg
  end

  defp connected(port, token, extra \\ %{}) do
    c = Client.connect(port)
    ready = Client.identify(c, token, extra)
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")
    c
  end

  test "a member without VIEW_CHANNEL never receives that channel's messages", %{port: port} do
    c = connected(port, @demo)
    hidden = post_as_ada(@staff, "secret #{System.unique_integer()}")
    visible = post_as_ada(@general, "public #{System.unique_integer()}")
    # Dispatches are ordered per guild: the first MESSAGE_CREATE after the
    # hidden one must be the visible one.
    event = Client.await_dispatch(c, "MESSAGE_CREATE")
    assert event["d"]["id"] == visible["id"]
    refute event["d"]["id"] == hidden["id"]
  end

  test "losing VIEW_CHANNEL through a role update stops delivery at once", %{port: port} do
    c = connected(port, @demo, %{"intents" => 33_281})
    {:ok, state} = {:ok, :sys.get_state(guild_pid(@hq))}
    everyone = state.guild.roles[@hq].permissions
    on_exit(fn -> Guild.update_role_permissions(guild_pid(@hq), @hq, everyone) end)

    :ok = Guild.update_role_permissions(guild_pid(@hq), @hq, everyone &&& bnot(Permissions.bit(:view_channel)))
    update = Client.await_dispatch(c, "GUILD_ROLE_UPDATE")
    assert update["d"]["role"]["id"] == to_string(@hq)
    post_as_ada(@general, "while hidden")
    assert Client.silent?(c, 200)

    :ok = Guild.update_role_permissions(guild_pid(@hq), @hq, everyone)
    Client.await_dispatch(c, "GUILD_ROLE_UPDATE")
    back = post_as_ada(@general, "visible again")
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == back["id"]
  end

  test "intents: no GUILD_MESSAGES means no messages; no MESSAGE_CONTENT means empty content", %{port: port} do
    guilds_only = connected(port, @limited, %{"intents" => 1})
    no_content = connected(port, @limited, %{"intents" => 513})
    with_content = connected(port, @demo, %{"intents" => 513 ||| 1 <<< 15})

    msg = post_as_ada(@general, "content check #{System.unique_integer()}")
    assert Client.await_dispatch(with_content, "MESSAGE_CREATE")["d"]["content"] == msg["content"]
    stripped = Client.await_dispatch(no_content, "MESSAGE_CREATE")
    assert stripped["d"]["id"] == msg["id"] and stripped["d"]["content"] == ""
    assert Client.silent?(guilds_only, 200)
  end

  test "a shard receives only its guilds", %{port: port} do
    c0 = Client.connect(port)
    ready0 = Client.identify(c0, @demo, %{"shard" => [0, 2]})
    assert Enum.map(ready0["d"]["guilds"], & &1["id"]) == [to_string(@side)]
    assert ready0["d"]["shard"] == [0, 2]

    c1 = Client.connect(port)
    ready1 = Client.identify(c1, @demo, %{"shard" => [1, 2]})
    assert Enum.map(ready1["d"]["guilds"], & &1["id"]) == [to_string(@hq)]
    Client.await_dispatch(c0, "GUILD_CREATE")
    Client.await_dispatch(c1, "GUILD_CREATE")

    msg = post_as_ada(@general, "shard check")
    assert Client.await_dispatch(c1, "MESSAGE_CREATE")["d"]["id"] == msg["id"]
    assert Client.silent?(c0, 200)
  end

  test "Request Guild Members: chunks of at most 1000, and not_found", %{port: port} do
    c = connected(port, @demo, %{"intents" => 513 ||| 2})
    Client.send_frame(c, 8, %{"guild_id" => to_string(@hq), "query" => "", "limit" => 0, "nonce" => "n1"})
    chunks = for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_MEMBERS_CHUNK")["d"]
    assert Enum.map(chunks, &length(&1["members"])) == [1000, 204]
    assert Enum.map(chunks, & &1["chunk_index"]) == [0, 1]
    assert Enum.all?(chunks, &(&1["chunk_count"] == 2 and &1["nonce"] == "n1"))

    Client.send_frame(c, 8, %{"guild_id" => to_string(@hq), "user_ids" => [to_string(@ada), "42"]})
    chunk = Client.await_dispatch(c, "GUILD_MEMBERS_CHUNK")["d"]
    assert [%{"user" => %{"id" => ada}}] = chunk["members"]
    assert ada == to_string(@ada)
    assert chunk["not_found"] == ["42"]

    Client.send_frame(c, 8, %{"guild_id" => to_string(@hq), "query" => "member11", "limit" => 5})
    chunk = Client.await_dispatch(c, "GUILD_MEMBERS_CHUNK")["d"]
    assert length(chunk["members"]) == 5
    assert Enum.all?(chunk["members"], &String.starts_with?(&1["user"]["username"], "member11"))
  end
end
