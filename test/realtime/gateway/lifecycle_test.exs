defmodule Realtime.Gateway.LifecycleTest do
  use Realtime.Test.GatewayCase, async: false

  for encoding <- [:json, :etf], compress <- [nil, "zlib-stream", "zstd-stream"] do
    @tag encoding: encoding, compress: compress
    test "full lifecycle in #{encoding} with #{compress || "no"} compression", %{port: port, encoding: encoding, compress: compress} do
      c = Client.connect(port, encoding: encoding, compress: compress)
      {:frame, hello} = Client.recv(c)
      # Every frame carries op, d, s and t.
      assert %{"op" => 10, "d" => %{"heartbeat_interval" => hb}, "s" => nil, "t" => nil} = hello
      assert is_integer(hb) and hb > 0

      Client.send_frame(c, 2, %{"token" => @demo, "intents" => 33_281 + 2, "properties" => %{"os" => "linux", "browser" => "t", "device" => "t"}})
      ready = Client.await_dispatch(c, "READY")
      assert %{"s" => 1, "d" => d} = ready
      assert d["v"] == 10
      assert d["user"]["id"] == "1000000000000000001" and d["user"]["bot"] == true
      assert Enum.sort(Enum.map(d["guilds"], & &1["id"])) == ["1100000000000000001", "1100000000004194305"]
      assert Enum.all?(d["guilds"], &(&1["unavailable"] == true))
      assert is_binary(d["session_id"]) and d["resume_gateway_url"] =~ "ws://127.0.0.1:"
      assert d["shard"] == [0, 1]
      assert %{"id" => _, "flags" => _} = d["application"]

      creates = for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
      assert Enum.map(creates, & &1["s"]) == [2, 3]
      hq = Enum.find(creates, &(&1["d"]["id"] == "1100000000000000001"))["d"]

      for key <- ~w(name owner_id roles channels members emojis stickers preferred_locale premium_tier nsfw_level system_channel_flags joined_at large member_count presences voice_states threads) do
        assert Map.has_key?(hq, key), "GUILD_CREATE lacks #{key}"
      end

      assert hq["member_count"] == 1204 and hq["large"] == true
      assert Enum.any?(hq["channels"], &(&1["name"] == "staff"))
      assert Enum.all?(hq["members"], &Map.has_key?(&1, "flags"))

      Client.send_frame(c, 1, 3)
      assert {:frame, %{"op" => 11, "d" => nil, "s" => nil, "t" => nil}} = Client.recv(c)

      content = "lifecycle #{encoding} #{compress} #{System.unique_integer([:positive])}"
      assert {200, headers, msg} = Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, Realtime.JSON.encode(%{"content" => content}))
      assert List.keyfind(headers, "content-type", 0) == {"content-type", "application/json"}
      event = Client.await_dispatch(c, "MESSAGE_CREATE")
      assert event["s"] == 4
      assert event["d"]["id"] == msg["id"] and event["d"]["content"] == content
      assert event["d"]["guild_id"] == "1100000000000000001"
      Client.close(c, 1000)
    end
  end

  test "resume after a dropped socket replays exactly the missed events, in order", %{port: port} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    session = ready["d"]["session_id"]
    Client.await_dispatch(c, "GUILD_CREATE")
    last = Client.await_dispatch(c, "GUILD_CREATE")["s"]
    Client.close(c, :drop)
    # The session notices the drop, then two messages are posted while away.
    Process.sleep(50)
    tag = "resume #{System.unique_integer([:positive])}"

    ids =
      for i <- 1..2 do
        {200, _, m} = Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, Realtime.JSON.encode(%{"content" => "#{tag} #{i}"}))
        m["id"]
      end

    c2 = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c2)
    Client.send_frame(c2, 6, %{"token" => @demo, "session_id" => session, "seq" => last})
    replayed = for _ <- 1..2, do: Client.await_dispatch(c2, "MESSAGE_CREATE")
    assert Enum.map(replayed, & &1["s"]) == [last + 1, last + 2]
    assert Enum.map(replayed, & &1["d"]["id"]) == ids
    assert Client.await_dispatch(c2, "RESUMED")["s"] == last + 3

    # And live events keep flowing on the new socket.
    {200, _, m} = Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, Realtime.JSON.encode(%{"content" => "#{tag} live"}))
    assert Client.await_dispatch(c2, "MESSAGE_CREATE")["d"]["id"] == m["id"]
    Client.close(c2, 1000)
  end

  test "a guild encodes what its sessions read; one that resumes in the other encoding gets events transcoded", %{port: port} do
    post = fn content ->
      {200, _, m} = Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, Realtime.JSON.encode(%{"content" => content}))
      m["id"]
    end

    # JSON and ETF sessions side by side each read their own encoding.
    [j, e] = for enc <- [:json, :etf], do: Client.connect(port, encoding: enc)
    ready = Client.identify(j, @demo)
    Client.identify(e, @demo)
    for c <- [j, e], _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    id = post.("both encodings")
    [last, _] = for c <- [j, e], do: assert(%{"d" => %{"id" => ^id}, "s" => _} = Client.await_dispatch(c, "MESSAGE_CREATE"))["s"]
    Client.close(e, 1000)

    # The JSON session drops; events while away are encoded for JSON only.
    Client.close(j, :drop)
    Process.sleep(50)
    etf_encodes = encodes("etf")
    away = post.("while away")

    c = Client.connect(port, encoding: :etf)
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 6, %{"token" => @demo, "session_id" => ready["d"]["session_id"], "seq" => last})
    assert %{"s" => s, "d" => %{"id" => ^away, "content" => "while away"}} = Client.await_dispatch(c, "MESSAGE_CREATE")
    assert s == last + 1
    Client.await_dispatch(c, "RESUMED")
    live = post.("live")
    assert %{"d" => %{"id" => ^live, "content" => "live"}} = Client.await_dispatch(c, "MESSAGE_CREATE")
    # The guild still counts the session as JSON: its socket transcoded.
    assert encodes("etf") == etf_encodes
    Client.close(c, 1000)
  end

  defp encodes(encoding) do
    {_, _, series} = Enum.find(Realtime.Metrics.read().histograms, &(elem(&1, 0) == "realtime_gateway_encode_seconds"))
    [{_, _, _, count, _}] = for {[{"encoding", ^encoding}], _, _, _, _} = s <- series, do: s
    count
  end

  test "resuming an unknown session, or one the client closed with 1000, is Invalid Session", %{port: port} do
    c = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 6, %{"token" => @demo, "session_id" => "nope", "seq" => 1})
    assert {:frame, %{"op" => 9, "d" => false}} = Client.recv(c)

    c2 = Client.connect(port)
    session = Client.identify(c2, @demo)["d"]["session_id"]
    # Gun closes TCP right after its close frame; let the server finish
    # writing first, or it sees a broken socket instead of the close.
    for _ <- 1..2, do: Client.await_dispatch(c2, "GUILD_CREATE")
    Client.close(c2, 1000)
    assert gone?(session)
    c3 = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c3)
    Client.send_frame(c3, 6, %{"token" => @demo, "session_id" => session, "seq" => 1})
    assert {:frame, %{"op" => 9, "d" => false}} = Client.recv(c3)
  end

  # The close handshake completes asynchronously; wait (boundedly) for the
  # session to end.
  defp gone?(session, tries \\ 100) do
    cond do
      Registry.lookup(Realtime.Gateway.SessionRegistry, session) == [] -> true
      tries == 0 -> false
      true -> Process.sleep(20) && gone?(session, tries - 1)
    end
  end
end
