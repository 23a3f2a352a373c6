defmodule Realtime.Push.BufferTest do
  use ExUnit.Case, async: true

  alias Realtime.Push.{Buffer, Sender}

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
    for _ <- 1..50, do: Buffer.push(b, for(i <- 1..2_000, do: %{"user_id" => Integer.to_string(i), "content" => "x"}))
    assert %{size: 1_000, dropped: 99_000} = Buffer.stats(b)
    pid = Process.whereis(b)
    :erlang.garbage_collect(pid)
    {:memory, bytes} = Process.info(pid, :memory)
    # 1,000 small maps are ~150 kB; 100,000 would be ~15 MB.
    assert bytes < 1_000_000
  end

  test "backoff grows exponentially to a cap, with jitter in its upper half" do
    cfg = %{backoff_ms: 100, backoff_max_ms: 1_000}
    for attempt <- 0..8, _ <- 1..20 do
      ceiling = min(1_000, 100 * Bitwise.bsl(1, attempt))
      assert Sender.backoff(attempt, cfg) in div(ceiling, 2)..ceiling
    end
  end
end
