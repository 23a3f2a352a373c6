# mix bench fanout
#
# A guild of 1,000,000 member slots: 30% can view the channel, 25% are
# online, and 10% of those are passive; 100,000 live receiver processes hold
# the online slots. One MESSAGE_CREATE-sized message goes to
# view ∩ online \ passive.
#
# Measured: the time in the sending process to compute the recipients and
# deliver, and the time until the last receiver has the message.
# Baseline in the same run: a MapSet filter plus Enum.each(pids, &send(&1, msg)).
# Also: the NIF computing the pids and Elixir sending (the alternative the
# issue asks to compare), recipient computation alone, and bitmap memory.

defmodule Bench.FanoutScript do
  alias Realtime.{Bench, Bitmap, Fanout}

  @slots 1_000_000
  @receivers 100_000

  def run do
    :rand.seed(:exsss, 42)
    view_list = for s <- 0..(@slots - 1), :rand.uniform() < 0.30, do: s
    online_list = for s <- 0..(@slots - 1), :rand.uniform() < 0.25, do: s
    passive_list = Enum.filter(online_list, fn _ -> :rand.uniform() < 0.10 end)

    counter = :counters.new(1, [:write_concurrency])
    procs = for _ <- 1..@receivers, do: spawn(fn -> receiver(counter) end)
    procs_t = List.to_tuple(procs)
    pid_of = fn slot -> elem(procs_t, rem(slot, @receivers)) end

    # Ours: bitmaps and a slot table.
    view = Bitmap.from_list(view_list)
    online = Bitmap.from_list(online_list)
    active = Bitmap.difference(online, Bitmap.from_list(passive_list))
    table = Fanout.new()
    Enum.each(online_list, &Fanout.put(table, &1, pid_of.(&1)))

    # Baseline: MapSets and a slot -> pid map.
    view_set = MapSet.new(view_list)
    passive_set = MapSet.new(passive_list)
    slot_pids = Map.new(online_list, &{&1, pid_of.(&1)})

    recipients = Bitmap.intersection_size(view, active)
    msg = {:dispatch, "MESSAGE_CREATE", :binary.copy("x", 1400)}
    IO.puts("slots: #{@slots}; view #{Bitmap.size(view)}, online #{Bitmap.size(online)}, active #{Bitmap.size(active)}; recipients per message: #{recipients}")

    ours = fn -> Fanout.send(table, Bitmap.intersection(view, active), msg) end
    via_pids = fn -> Enum.each(Fanout.pids(table, Bitmap.intersection(view, active)), &send(&1, msg)) end

    naive = fn ->
      online_list
      |> Enum.filter(&(MapSet.member?(view_set, &1) and not MapSet.member?(passive_set, &1)))
      |> Enum.map(&Map.fetch!(slot_pids, &1))
      |> Enum.each(&send(&1, msg))
    end

    whole = [samples: 10, warmup_ms: 0, min_sample_us: 0]

    Bench.compare("time in the sending process (compute recipients + deliver)", {"MapSet filter + Enum.each send", fn _ -> naive.() end}, [
      {"Bitmap.intersection + Fanout.send", fn _ -> ours.() end},
      {"Bitmap.intersection + Fanout.pids + Enum.each send", fn _ -> via_pids.() end}
    ], whole)

    Bench.compare("time until the last receiver has the message", {"MapSet filter + Enum.each send", fn _ -> until_delivered(counter, recipients, naive) end}, [
      {"Bitmap.intersection + Fanout.send", fn _ -> until_delivered(counter, recipients, ours) end},
      {"Bitmap.intersection + Fanout.pids + Enum.each send", fn _ -> until_delivered(counter, recipients, via_pids) end}
    ], whole)

    Bench.compare("recipient computation only", {"MapSet filter (slots)", fn _ ->
      Enum.filter(online_list, &(MapSet.member?(view_set, &1) and not MapSet.member?(passive_set, &1)))
    end}, [
      {"Bitmap.intersection", fn _ -> Bitmap.intersection(view, active) end},
      {"Bitmap.intersection_size", fn _ -> Bitmap.intersection_size(view, active) end}
    ], samples: 50)

    IO.puts("\n## Memory of 1M-slot bitmaps (Realtime.Bitmap.memory/1)")
    for {name, b} <- [{"view (30%)", view}, {"online (25%)", online}, {"active", active}] do
      IO.puts("#{String.pad_trailing(name, 14)} #{Bitmap.memory(b)} bytes")
    end

    IO.puts("MapSet of the view, for comparison: #{:erts_debug.size(view_set) * 8} bytes")
    Enum.each(procs, &Process.exit(&1, :kill))
  end

  defp receiver(counter) do
    receive do
      _ -> :counters.add(counter, 1, 1)
    end

    receiver(counter)
  end

  defp until_delivered(counter, expected, fun) do
    base = :counters.get(counter, 1)
    fun.()
    wait(counter, base + expected, System.monotonic_time(:millisecond) + 30_000)
  end

  defp wait(counter, target, deadline) do
    cond do
      :counters.get(counter, 1) >= target -> :ok
      System.monotonic_time(:millisecond) > deadline -> raise "messages not delivered within 30 s"
      true -> wait(counter, target, deadline)
    end
  end
end

Bench.FanoutScript.run()
