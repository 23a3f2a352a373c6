defmodule Realtime.Gateway.ResilienceTest do
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.Guild.Placement

  test "op 7 Reconnect: the client is asked to reconnect and resumes where it was", %{port: port, listener: listener} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo)
    Client.await_dispatch(c, "GUILD_CREATE")
    last = Client.await_dispatch(c, "GUILD_CREATE")["s"]

    assert Realtime.Gateway.drain(listener) >= 1
    assert {:frame, %{"op" => 7, "d" => nil}} = Client.recv(c)
    assert {:close, 4000} = Client.recv(c)

    c2 = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c2)
    Client.send_frame(c2, 6, %{"token" => @demo, "session_id" => ready["d"]["session_id"], "seq" => last})
    assert Client.await_dispatch(c2, "RESUMED")["s"] == last + 1
    Client.close(c2, 1000)
  end

  test "a guild that crashes is reported unavailable, then comes back", %{port: port} do
    c = Client.connect(port)
    Client.identify(c, @demo)
    for _ <- 1..2, do: Client.await_dispatch(c, "GUILD_CREATE")
    {:ok, side} = Placement.lookup(@side)
    Process.exit(side, :kill)

    assert Client.await_dispatch(c, "GUILD_DELETE")["d"] == %{"id" => to_string(@side), "unavailable" => true}
    assert Client.await_dispatch(c, "GUILD_CREATE")["d"]["id"] == to_string(@side)
    {:ok, back} = Placement.lookup(@side)
    assert back != side

    # The restarted guild delivers again.
    {200, _, m} = Client.rest(port, :post, "/api/v10/channels/1100000000000000301/messages", @demo, Realtime.JSON.encode(%{"content" => "after restart"}))
    assert Client.await_dispatch(c, "MESSAGE_CREATE")["d"]["id"] == m["id"]
    Client.close(c, 1000)
  end
end
