defmodule Realtime.Gateway.CloseCodesTest do
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  @props %{"os" => "linux", "browser" => "t", "device" => "t"}

  defp hello(port, opts \\ []) do
    c = Client.connect(port, opts)
    {:frame, %{"op" => 10}} = Client.recv(c)
    c
  end

  defp identify(c, overrides),
    do: Client.send_frame(c, 2, Map.merge(%{"token" => @demo, "intents" => 513, "properties" => @props}, overrides))

  defp closes_with(c, code) do
    case Client.recv(c) do
      {:close, ^code} -> true
      {:frame, _} -> closes_with(c, code)
      other -> flunk("expected close #{code}, got #{inspect(other)}")
    end
  end

  test "4001 unknown opcode", %{port: port} do
    c = hello(port)
    Client.send_frame(c, 42, nil)
    assert closes_with(c, 4001)
  end

  test "4002 for garbage, oversized frames, wrong types in Identify and atom keys in ETF", %{port: port} do
    c = hello(port)
    Client.send_raw(c, :text, "{not json")
    assert closes_with(c, 4002)

    c = hello(port)
    Client.send_raw(c, :binary, <<0xFF, 0xFE>>)
    assert closes_with(c, 4002)

    c = hello(port)
    Client.send_raw(c, :text, Realtime.JSON.encode(%{"op" => 1, "d" => String.duplicate("x", 5000)}))
    assert closes_with(c, 4002)

    for bad <- [%{"token" => 123}, %{"intents" => "all"}, %{"properties" => "x"}, %{"shard" => "0,1"}, %{"large_threshold" => 10_000}] do
      c = hello(port)
      identify(c, bad)
      assert closes_with(c, 4002), inspect(bad)
    end

    c = hello(port, encoding: :etf)
    Client.send_raw(c, :binary, :erlang.term_to_binary(%{op: 1, d: nil}))
    assert closes_with(c, 4002)
  end

  test "4003 before identifying, 4004 bad token, 4005 a second Identify", %{port: port} do
    c = hello(port)
    Client.send_frame(c, 8, %{"guild_id" => "1", "query" => "", "limit" => 0})
    assert closes_with(c, 4003)

    c = hello(port)
    identify(c, %{"token" => "not-a-token"})
    assert closes_with(c, 4004)

    c = hello(port)
    identify(c, %{})
    Client.await_dispatch(c, "READY")
    identify(c, %{})
    assert closes_with(c, 4005)
  end

  test "4008 past 120 frames a minute", %{port: port} do
    c = hello(port)
    for _ <- 1..121, do: Client.send_frame(c, 1, nil)
    assert closes_with(c, 4008)
  end

  test "4009 when heartbeats stop (zombie connection)", %{port: port} do
    Application.put_env(:realtime, :heartbeat_interval, 100)
    on_exit(fn -> Application.delete_env(:realtime, :heartbeat_interval) end)
    c = hello(port)
    identify(c, %{})
    assert closes_with(c, 4009)
  end

  test "4010 invalid shard, 4012 invalid version, 4013 invalid intents, 4014 disallowed intents", %{port: port} do
    c = hello(port)
    identify(c, %{"shard" => [2, 2]})
    assert closes_with(c, 4010)

    c = Client.connect(port, v: "7")
    assert closes_with(c, 4012)

    c = hello(port)
    identify(c, %{"intents" => 1 <<< 40})
    assert closes_with(c, 4013)

    # The limited bot has no privileged intents.
    c = hello(port)
    identify(c, %{"token" => @limited, "intents" => 513 ||| 1 <<< 15})
    assert closes_with(c, 4014)
  end

  test "4007 resuming with a sequence ahead of the session's", %{port: port} do
    c = Client.connect(port)
    session = Client.identify(c, @demo)["d"]["session_id"]
    for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    Client.close(c, :drop)
    c2 = hello(port)
    Client.send_frame(c2, 6, %{"token" => @demo, "session_id" => session, "seq" => 1_000})
    assert closes_with(c2, 4007)
  end

  test "4011 when a shard would hold too many guilds", %{port: port} do
    Application.put_env(:realtime, :max_guilds_per_shard, 1)
    on_exit(fn -> Application.delete_env(:realtime, :max_guilds_per_shard) end)
    c = hello(port)
    identify(c, %{})
    assert closes_with(c, 4011)
    # Split over two shards, each holds one guild.
    c = hello(port)
    identify(c, %{"shard" => [0, 2]})
    assert Client.await_dispatch(c, "READY")
  end

  test "the gateway stays up for others while bad clients are closed", %{port: port} do
    good = Client.connect(port)
    Client.identify(good, @demo)

    for _ <- 1..5 do
      c = hello(port)
      Client.send_raw(c, :text, "garbage")
      assert closes_with(c, 4002)
    end

    tag = "still up #{System.unique_integer([:positive])}"
    {200, _, _} = Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, Realtime.JSON.encode(%{"content" => tag}))
    assert Client.await_dispatch(good, "MESSAGE_CREATE")["d"]["content"] == tag
  end
end
