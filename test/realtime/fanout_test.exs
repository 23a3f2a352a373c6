defmodule Realtime.FanoutTest do
  # Not async: system_monitor is VM-wide.
  use ExUnit.Case, async: false

  alias Realtime.{Bitmap, Fanout}

  defp receivers(n) do
    parent = self()

    for _ <- 1..n do
      spawn_link(fn -> collect(parent, []) end)
    end
  end

  defp collect(parent, acc) do
    receive do
      {:report, ref} -> send(parent, {ref, self(), Enum.reverse(acc)})
      msg -> collect(parent, [msg | acc])
    end
  end

  defp reports(pids) do
    ref = make_ref()
    Enum.each(pids, &send(&1, {:report, ref}))
    Map.new(pids, fn _ -> receive(do: ({^ref, pid, msgs} -> {pid, msgs})) end)
  end

  test "10k processes: exactly the bitmap's members get each message, in order" do
    pids = receivers(10_000)
    table = Fanout.new()
    pids |> Enum.with_index() |> Enum.each(fn {pid, slot} -> Fanout.put(table, slot, pid) end)
    chosen = Bitmap.from_list(Enum.take_every(0..9_999, 3))
    others = Bitmap.from_list(Enum.to_list(5_000..5_099))

    assert Fanout.send(table, chosen, {:event, 1}) == 3_334
    assert Fanout.send(table, others, {:other, 1}) == 100
    assert Fanout.send(table, chosen, {:event, 2}) == 3_334
    Fanout.sync()

    got = reports(pids)

    for {pid, slot} <- Enum.with_index(pids) do
      in_chosen = rem(slot, 3) == 0
      in_others = slot in 5_000..5_099
      expected = if(in_chosen, do: [{:event, 1}], else: []) ++ if(in_others, do: [{:other, 1}], else: []) ++ if(in_chosen, do: [{:event, 2}], else: [])
      msgs = got[pid]
      # Order between the two {:event, _} messages is kept.
      assert Enum.filter(msgs, &match?({:event, _}, &1)) == Enum.filter(expected, &match?({:event, _}, &1)), "slot #{slot}"
      assert Enum.sort(msgs) == Enum.sort(expected), "slot #{slot}"
    end
  end

  test "empty slots and dead processes are skipped" do
    table = Fanout.new()
    dead = spawn(fn -> :ok end)
    ref = Process.monitor(dead)
    assert_receive {:DOWN, ^ref, _, _, _}
    Fanout.put(table, 1, dead)
    Fanout.put(table, 2, self())
    Fanout.put(table, 3, self())
    Fanout.delete(table, 3)
    # The dead process is handed off (it is only found dead on delivery).
    assert Fanout.send(table, Bitmap.from_list([0, 1, 2, 3, 99]), :hi) == 2
    Fanout.sync()
    assert_received :hi
    refute_received :hi
    assert_raise ArgumentError, fn -> Fanout.put(table, 2 ** 26, self()) end
  end

  # long_schedule is measured in wall time, so the OS preempting a
  # scheduler thread (another process loading the machine) can produce a
  # report that is not ours. A send that really holds a scheduler is
  # reported every time: three tries, and one clean try passes.
  test "a 1M-slot send never holds a scheduler long enough to be reported" do
    pids = receivers(1_000)
    table = Fanout.new()
    for slot <- 0..999_999, do: Fanout.put(table, slot, Enum.at(pids, rem(slot, 1_000)))
    everyone = Bitmap.from_list(Enum.to_list(0..999_999))

    reports = Enum.reduce_while(1..3, nil, fn _, _ -> with [_ | _] = r <- long_schedules(table, everyone), do: {:cont, r}, else: ([] -> {:halt, []}) end)
    assert reports == []
    Enum.each(pids, &Process.unlink/1)
    Enum.each(pids, &Process.exit(&1, :kill))
  end

  # The long_schedule reports (over 5 ms) that name the sender or our NIF
  # code during one 1M-recipient send.
  defp long_schedules(table, everyone) do
    parent = self()

    sender =
      spawn_link(fn ->
        receive do: (:go -> send(parent, {:sent, Fanout.send(table, everyone, :tick)}))
      end)

    :erlang.system_monitor(self(), [{:long_schedule, 5}])
    send(sender, :go)
    assert_receive {:sent, 1_000_000}, 60_000
    Fanout.sync(60_000)
    :erlang.system_monitor(:undefined)

    long =
      Stream.repeatedly(fn -> receive(do: ({:monitor, who, :long_schedule, info} -> {who, info}), after: (0 -> nil)) end)
      |> Enum.take_while(& &1)

    ours = fn {who, info} ->
      who == sender or Enum.any?([info[:in], info[:out]], &match?({mod, _, _} when mod in [Realtime.Native, Realtime.Fanout], &1))
    end

    Enum.filter(long, ours)
  end
end
