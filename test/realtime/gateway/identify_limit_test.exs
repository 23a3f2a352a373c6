defmodule Realtime.Gateway.IdentifyLimitTest do
  @moduledoc "Identify concurrency (max_concurrency buckets) and the session start limit, over the gateway."
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.Gateway.IdentifyLimit

  @demo_id 1_000_000_000_000_000_001
  @interval 400

  setup do
    # No session starts counted, and earlier tests' leases run out.
    :ets.delete_all_objects(Realtime.WindowCounter)
    Process.sleep(@interval)
    Application.put_env(:realtime, :identify_limits, %{interval_ms: @interval, accounts: %{@demo_id => %{max_concurrency: 2, total: 4}}})
    on_exit(fn -> Application.put_env(:realtime, :identify_limits, %{enabled: false}) end)
  end

  # HELLO, IDENTIFY on `shard`; the first answer: READY, or op 9.
  defp identify(port, shard) do
    c = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c)
    props = %{"os" => "linux", "browser" => "t", "device" => "t"}
    Client.send_frame(c, 2, %{"token" => @demo, "intents" => 1, "properties" => props, "shard" => shard})

    case Client.recv(c) do
      {:frame, %{"op" => 0, "t" => "READY"} = ready} -> {:ready, c, ready}
      {:frame, %{"op" => 9, "d" => false}} -> {:invalid_session, c, nil}
    end
  end

  defp session_start_limit(port) do
    {200, _, %{"session_start_limit" => limit}} = Client.rest(port, :get, "/api/v10/gateway/bot", @demo)
    limit
  end

  test "one identify per interval per bucket, bucket = shard_id rem max_concurrency", %{port: port} do
    assert %{"max_concurrency" => 2, "total" => 4, "remaining" => 4} = session_start_limit(port)
    assert {:ready, _, _} = identify(port, [0, 4])
    # Shard 1 is the other bucket: admitted at once.
    assert {:ready, _, _} = identify(port, [1, 4])
    # Shard 2 shares shard 0's bucket: Invalid Session, and the connection
    # stays open for the client to try again.
    assert {:invalid_session, c, _} = identify(port, [2, 4])
    Process.sleep(@interval + 50)
    Client.send_frame(c, 2, %{"token" => @demo, "intents" => 1, "properties" => %{}, "shard" => [2, 4]})
    assert Client.await_dispatch(c, "READY")["d"]["shard"] == [2, 4]
    assert %{"remaining" => 1, "reset_after" => reset_after} = session_start_limit(port)
    assert reset_after > 86_000_000
  end

  test "the session start limit: identifies past the total get Invalid Session; resumes do not count", %{port: port} do
    {:ready, first, ready} = identify(port, [0, 1])
    for _ <- 2..4, do: (Process.sleep(@interval + 20) && assert({:ready, _, _} = identify(port, [0, 1])))
    assert %{"remaining" => 0} = session_start_limit(port)
    Process.sleep(@interval + 20)
    assert {:invalid_session, _, _} = identify(port, [0, 1])

    # A resume is not a new session.
    seq = 1
    Client.close(first, 4000)
    c = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 6, %{"token" => @demo, "session_id" => ready["d"]["session_id"], "seq" => seq})
    assert Client.await_dispatch(c, "RESUMED")
  end

  test "user accounts are unlimited; bots take their account's values" do
    assert IdentifyLimit.limits(%{id: 1, bot: false}) == :unlimited
    assert %{max_concurrency: 16, total: 2_000} = IdentifyLimit.limits(%{id: 9, bot: true, max_concurrency: 16, session_start_total: 2_000})
    assert %{max_concurrency: 2, total: 4} = IdentifyLimit.limits(%{id: @demo_id, bot: true})
  end
end
