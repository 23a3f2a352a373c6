defmodule Realtime.Guild.LeaseTest do
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  alias Realtime.{JSON, Store}
  alias Realtime.Guild.Placement

  @messages 1 <<< 9

  defp post(port, content),
    do: Client.rest(port, :post, "/api/v10/channels/#{@general}/messages", @demo, JSON.encode(%{"content" => content}))

  test "a guild whose lease another node took stores nothing more and stops; its owner starts it again and sessions rejoin", %{port: port} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo, %{"intents" => 1 ||| @messages})
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")

    pid = guild_pid(@hq)
    {:ok, {_owner, epoch}} = Store.read({:lease, @hq})
    {200, _, _} = post(port, "while owned")
    Client.await_dispatch(c, "MESSAGE_CREATE")

    # Another node takes the guild over; this one has not heard of it.
    ref = Process.monitor(pid)
    :ok = Store.write(@hq, [{:take_lease, @hq, "elsewhere@10.0.0.9", epoch + 1}])
    assert {503, _, _} = post(port, "from the stale owner")
    assert_receive {:DOWN, ^ref, :process, ^pid, {:shutdown, :lease_lost}}, 5_000
    assert Client.await_dispatch(c, "GUILD_DELETE")["d"] == %{"id" => to_string(@hq), "unavailable" => true}

    # The ring still says this node owns the guild, so it starts it again
    # under a newer lease, loading what the other owner may have written; the
    # session rejoins it by itself.
    assert Client.await_dispatch(c, "GUILD_CREATE")["d"]["id"] == to_string(@hq)
    assert {:ok, new_pid} = Placement.lookup(@hq)
    assert new_pid != pid
    assert {:ok, {_, next}} = Store.read({:lease, @hq})
    assert next == epoch + 2

    {:ok, {rows, _}} = Store.read({:page, @general, :latest, 20})
    contents = Enum.map(rows, fn {_, data} -> :erlang.binary_to_term(data)[:content] end)
    assert "while owned" in contents
    refute "from the stale owner" in contents
    {200, _, _} = post(port, "after the handover")
    Client.await_dispatch(c, "MESSAGE_CREATE")
  end
end
