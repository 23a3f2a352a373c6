defmodule Realtime.Push.BufferTest do
  use ExUnit.Case, async: true

  alias Realtime.Push.{Buffer, Job, Sender}

  defp start(opts) do
    name = :"buffer_#{System.unique_integer([:positive])}"
    start_supervised!(Supervisor.child_spec({Buffer, [name: name] ++ opts}, id: name))
    name
  end

  test "beyond its capacity it drops the oldest (or the newest), and counts them" do
    b = start(capacity: 5)
    Buffer.push(b, Enum.to_list(1..8))
    assert %{size: 5, dropped: 3} = Buffer.stats(b)
    Buffer.ask(b, 10)
    assert_receive {:push_batch, [4, 5, 6, 7, 8]}

    n = start(capacity: 5, policy: :drop_newest)
    Buffer.push(n, Enum.to_list(1..8))
    Buffer.ask(n, 2)
    assert_receive {:push_batch, [1, 2]}
    Buffer.ask(n, 10)
    assert_receive {:push_batch, [3, 4, 5]}
  end

  test "demand waits for jobs; batches never exceed what was asked; nothing arrives unasked" do
    b = start(capacity: 100)
    Buffer.ask(b, 3)
    refute_receive {:push_batch, _}, 50
    Buffer.push(b, Enum.to_list(1..10))
    assert_receive {:push_batch, [1, 2, 3]}
    refute_receive {:push_batch, _}, 50
    assert %{size: 7} = Buffer.stats(b)
  end

  test "memory stays bounded however much is pushed at a stalled buffer" do
    b = start(capacity: 1_000)
    message = String.duplicate("x", 100)
    for _ <- 1..50, do: Buffer.push(b, for(i <- 1..2_000, do: {i, 1, 2, message}))
    assert %{size: 1_000, dropped: 99_000} = Buffer.stats(b)
    pid = Process.whereis(b)
    :erlang.garbage_collect(pid)
    {:memory, bytes} = Process.info(pid, :memory)
    # 1,000 jobs are ~100 kB; 100,000 would be ~10 MB.
    assert bytes < 1_000_000
  end

  test "a job is written as one flat JSON object, the message encoded once for all its recipients" do
    msg = %{guild_id: 7, channel_id: 8, id: 9, author: %{username: "ada"}, content: String.duplicate("é", 300) <> ~s(")}
    [a, b] = Job.for_message(msg, [1, 22])
    assert :erts_debug.same(elem(a, 3), elem(b, 3))
    assert {:ok, push} = a |> Job.to_json() |> IO.iodata_to_binary() |> Realtime.JSON.decode()
    assert push == %{"user_id" => "1", "guild_id" => "7", "channel_id" => "8", "message_id" => "9", "author" => "ada", "content" => String.duplicate("é", 200)}
    assert {:ok, [%{"user_id" => "1"}, %{"user_id" => "22"}]} = [a, b] |> Job.to_json_array() |> IO.iodata_to_binary() |> Realtime.JSON.decode()
  end

  test "backoff grows exponentially to a cap, with jitter in its upper half" do
    cfg = %{backoff_ms: 100, backoff_max_ms: 1_000}
    for attempt <- 0..8, _ <- 1..20 do
      ceiling = min(1_000, 100 * Bitwise.bsl(1, attempt))
      assert Sender.backoff(attempt, cfg) in div(ceiling, 2)..ceiling
    end
  end
end
