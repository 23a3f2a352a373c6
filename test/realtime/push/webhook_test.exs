defmodule Realtime.Push.WebhookTest do
  # Not async: the assertions count metrics that other push tests move too.
  use ExUnit.Case, async: false

  alias Realtime.Metrics
  alias Realtime.Push.{Buffer, Sender}
  alias Realtime.Test.PushReceiver

  @sender %{batch: 100, attempts: 3, backoff_ms: 20, backoff_max_ms: 200}

  # A buffer and `n` senders to the receiver's URL, all supervised by the test.
  defp pipeline(receiver, buffer_opts, sender_opts, n \\ 1) do
    name = :"push_buffer_#{System.unique_integer([:positive])}"
    start_supervised!(Supervisor.child_spec({Buffer, [name: name] ++ buffer_opts}, id: name))
    config = @sender |> Map.merge(sender_opts) |> Map.merge(%{buffer: name, sink: {Realtime.Push.Webhook, %{url: receiver.url, timeout_ms: Map.get(sender_opts, :timeout_ms, 2_000)}}})
    senders = for i <- 1..n, do: start_supervised!(Supervisor.child_spec({Sender, config}, id: {name, i}))
    {name, senders}
  end

  @message Realtime.JSON.encode(%{"guild_id" => "7", "channel_id" => "8", "message_id" => "9", "author" => "ada", "content" => "hi"})
  defp job(i), do: {i, 7, 8, @message}

  defp push(buffer, range, chunk), do: range |> Enum.map(&job/1) |> Enum.chunk_every(chunk) |> Enum.each(&Buffer.push(buffer, &1))

  # The requests that arrive until `n` pushes were taken (2xx), within `ms`.
  defp taken(n, ms, acc \\ [])
  defp taken(n, _ms, acc) when n <= 0, do: Enum.reverse(acc)

  defp taken(n, ms, acc) do
    receive do
      {:push_request, _, 204, pushes} -> taken(n - length(pushes), ms, [pushes | acc])
      {:push_request, _, _, _} -> taken(n, ms, acc)
    after
      ms -> flunk("#{n} pushes did not arrive; got #{length(List.flatten(acc))}")
    end
  end

  defp ids(batches), do: batches |> List.flatten() |> Enum.map(&String.to_integer(&1["user_id"]))

  defp counts, do: %{delivered: Metrics.value(:push_delivered), overflow: Metrics.value(:push_dropped, "overflow"), retries: Metrics.value(:push_retries), dead: Metrics.value(:push_dead_letter)}

  defp delta(before), do: Map.new(counts(), fn {k, v} -> {k, v - before[k]} end)

  setup do
    receiver = PushReceiver.start()
    on_exit(fn -> PushReceiver.stop(receiver) end)
    {:ok, receiver: receiver}
  end

  test "batches arrive, each no larger than the senders ask for, every push once", %{receiver: r} do
    before = counts()
    {buffer, _} = pipeline(r, [capacity: 10_000], %{batch: 100}, 3)
    push(buffer, 1..2_000, 7)
    batches = taken(2_000, 5_000)

    assert Enum.all?(batches, &(length(&1) in 1..100))
    assert Enum.sort(ids(batches)) == Enum.to_list(1..2_000)
    assert %{"user_id" => _, "guild_id" => "7", "channel_id" => "8", "message_id" => "9", "author" => "ada", "content" => "hi"} = hd(hd(batches))
    # The receiver reports a batch just before it answers.
    wait_until(fn -> delta(before).delivered == 2_000 end, 2_000)
    assert %{overflow: 0, dead: 0} = delta(before)
  end

  test "a slow sink makes the buffer drop the oldest, counted, with memory bounded", %{receiver: r} do
    PushReceiver.set_mode(r, {:slow, 100})
    before = counts()
    {buffer, [sender]} = pipeline(r, [capacity: 200], %{batch: 50})
    push(buffer, 1..20_000, 100)
    %{size: size, dropped: dropped} = Buffer.stats(buffer)
    assert size <= 200 and dropped > 19_000

    pid = Process.whereis(buffer)
    :erlang.garbage_collect(pid)
    {:memory, bytes} = Process.info(pid, :memory)
    # 200 jobs are ~20 kB; 20,000 would be ~2 MB.
    assert bytes < 500_000
    # The sender holds at most the one batch it is delivering.
    {:message_queue_len, 0} = Process.info(sender, :message_queue_len)

    PushReceiver.set_mode(r, :ok)
    received = ids(taken(20_000 - dropped, 10_000))
    assert Buffer.stats(buffer).size == 0
    # Every push was delivered or dropped, never both; the newest were kept.
    assert length(received) + dropped == 20_000
    assert length(Enum.uniq(received)) == length(received)
    assert Enum.all?(19_801..20_000, &(&1 in received))
    wait_until(fn -> delta(before).delivered == length(received) end, 2_000)
    assert delta(before).overflow == dropped
  end

  test "a failing sink is retried after growing waits, then dead-lettered; the sender lives on", %{receiver: r} do
    PushReceiver.set_mode(r, {:fail, 503})
    before = counts()
    {buffer, [sender]} = pipeline(r, [capacity: 100], %{attempts: 4, backoff_ms: 40, backoff_max_ms: 1_000})
    push(buffer, 1..3, 3)

    times =
      for _ <- 1..4 do
        assert_receive {:push_request, t, 503, [_, _, _]}, 3_000
        t
      end

    # Waits are at least half of 40, 80, 160 ms (jitter is in the upper half).
    gaps = times |> Enum.chunk_every(2, 1, :discard) |> Enum.map(fn [a, b] -> b - a end)
    assert Enum.zip(gaps, [20, 40, 80]) |> Enum.all?(fn {gap, least} -> gap >= least end), inspect(gaps)
    refute_receive {:push_request, _, _, _}, 400
    assert %{retries: 3, dead: 3, delivered: 0} = delta(before)

    # A receiver that is gone is a failure like any other.
    PushReceiver.stop(r)
    push(buffer, 4..5, 2)
    wait_until(fn -> delta(before).dead == 5 end, 5_000)
    assert Process.alive?(sender) and Process.alive?(Process.whereis(buffer))
  end

  test "a sink slower than the timeout is retried, and later pushes still get through", %{receiver: r} do
    PushReceiver.set_mode(r, {:slow, 1_000})
    before = counts()
    {buffer, [sender]} = pipeline(r, [capacity: 100], %{attempts: 2, timeout_ms: 100})
    push(buffer, 1..2, 2)
    wait_until(fn -> delta(before).dead == 2 end, 5_000)
    assert delta(before).retries == 1

    PushReceiver.set_mode(r, :ok)
    push(buffer, 3..4, 2)
    # The late answers to the timed-out requests arrive too; skip them.
    assert_receive {:push_request, _, 204, [%{"user_id" => "3"}, %{"user_id" => "4"}]}, 5_000
    assert Process.alive?(sender)
  end

  defp wait_until(fun, ms) when ms <= 0, do: assert(fun.())

  defp wait_until(fun, ms) do
    unless fun.() do
      Process.sleep(20)
      wait_until(fun, ms - 20)
    end
  end
end
