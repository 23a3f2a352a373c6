defmodule Realtime.Gateway.SlowConsumerTest do
  @moduledoc """
  A client that stops reading its socket: its connection is closed (its
  queue bounded), the others' events keep flowing, and its resume replays
  exactly what it missed.
  """
  use Realtime.Test.GatewayCase, async: false

  import Bitwise

  alias Realtime.Guild
  alias Realtime.Guild.Placement
  alias Realtime.Test.RawSocket

  @ada 1_200_000_000_000_000_001
  @posts 300

  setup do
    ref = :"slow_#{System.unique_integer([:positive])}"
    spec = Realtime.Gateway.Listener.child_spec(port: 0, ref: ref, send_timeout: 1_000, send_buffer: 8_192)
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, spec)
    Application.put_env(:realtime, :max_queued_dispatches, 50)

    on_exit(fn ->
      Application.delete_env(:realtime, :max_queued_dispatches)
      Supervisor.terminate_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
      Supervisor.delete_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
    end)

    {:ok, slow_port: Realtime.Gateway.Listener.port(ref)}
  end

  test "a client that stops reading is closed, others are not delayed, and its resume replays what it missed", %{slow_port: port} do
    slow = RawSocket.connect(port)
    {{:frame, %{"op" => 10}}, slow} = RawSocket.recv(slow)
    RawSocket.send_frame(slow, 2, %{"token" => @demo, "intents" => 513 ||| 32_768, "properties" => %{}})
    {ready, _, slow} = RawSocket.await_dispatch(slow, "READY")
    {_, _, slow} = RawSocket.await_dispatch(slow, "GUILD_CREATE")
    {%{"s" => last_seq}, _, slow} = RawSocket.await_dispatch(slow, "GUILD_CREATE")
    [{session, _}] = Registry.lookup(Realtime.Gateway.SessionRegistry, ready["d"]["session_id"])

    fast = Client.connect(port)
    Client.identify(fast, @demo, %{"intents" => 513 ||| 32_768})
    for _ <- 1..2, do: Client.await_dispatch(fast, "GUILD_CREATE")

    # From here on the slow client reads nothing.
    {:ok, hq} = Placement.lookup(@hq)
    big = String.duplicate("z", 1_900)
    posted = for i <- 1..@posts, do: elem(Guild.create_message(hq, @general, @ada, "#{i} #{big}"), 1)["id"]

    received = for _ <- 1..@posts, do: Client.await_dispatch(fast, "MESSAGE_CREATE")["d"]["id"]
    assert received == posted

    # The slow connection is closed, and the session waits to be resumed,
    # holding only its replay buffer.
    assert wait_until(fn -> :sys.get_state(session).socket == nil end)
    assert {:memory, bytes} = Process.info(session, :memory)
    assert bytes < 2_000_000
    {outcome, _} = drain(slow)
    assert outcome in [{:close, 4000}, :closed]

    # Resuming from what it last read replays exactly what it missed.
    c = Client.connect(port)
    {:frame, %{"op" => 10}} = Client.recv(c)
    Client.send_frame(c, 6, %{"token" => @demo, "session_id" => ready["d"]["session_id"], "seq" => last_seq})
    replayed = for _ <- 1..@posts, do: Client.await_dispatch(c, "MESSAGE_CREATE")
    assert Enum.map(replayed, & &1["d"]["id"]) == posted
    assert Enum.map(replayed, & &1["s"]) == Enum.to_list((last_seq + 1)..(last_seq + @posts))
    assert Client.await_dispatch(c, "RESUMED")
  end

  # Reads what the server managed to send, to the end of the connection.
  defp drain(client) do
    case RawSocket.recv(client, 5_000) do
      {{:frame, _}, client} -> drain(client)
      {{:close, code}, client} -> {{:close, code}, client}
      {:closed, client} -> {:closed, client}
    end
  end

  defp wait_until(fun, tries \\ 200) do
    cond do
      fun.() -> true
      tries == 0 -> false
      true -> Process.sleep(25) && wait_until(fun, tries - 1)
    end
  end
end
