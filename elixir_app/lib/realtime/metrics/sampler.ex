defmodule Realtime.Metrics.Sampler do
  @moduledoc """
  Takes the samples no hot path should pay for, once a second, in this one
  process, and keeps the latest in an ETS table for the endpoint:

    * BEAM: scheduler utilisation (per scheduler), run queue lengths,
      memory by type, process and port counts;
    * `Realtime.Native.memory/0`, the NIFs' own allocations;
    * guilds: how many, their mailboxes (total and largest) and the busiest
      (most work done since the last sample);
    * rates for the status page: events dispatched and delivered per
      second, and the last second's identify and dispatch p99, from the
      histograms' bucket counts.

  It also claims the VM's system monitor (`long_schedule`, `long_gc`,
  `large_heap`, `busy_port`, `busy_dist_port`) when nobody holds it, and
  counts each report under the event and where it came from.
  """
  use GenServer

  alias Realtime.Metrics

  @table __MODULE__
  @every 1_000
  @monitor [{:long_schedule, 20}, {:long_gc, 50}, {:large_heap, 16_777_216}, :busy_port, :busy_dist_port]

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc "The latest samples (a map), or an empty map before the first."
  @spec latest() :: map
  def latest do
    case :ets.lookup(@table, :latest) do
      [{_, s}] -> s
      [] -> %{}
    end
  end

  @doc "System-monitor reports counted so far: `[{{event, source}, count}]`."
  @spec monitor_events() :: [{{atom, String.t()}, non_neg_integer}]
  def monitor_events, do: :ets.select(@table, [{{{:monitor, :"$1", :"$2"}, :"$3"}, [], [{{{{:"$1", :"$2"}}, :"$3"}}]}])

  @doc "Takes a sample now (the timer does it every second)."
  @spec sample() :: map
  def sample, do: GenServer.call(__MODULE__, :sample)

  @impl true
  def init(_opts) do
    :ets.new(@table, [:named_table, :public, :set, read_concurrency: true])
    :erlang.system_flag(:scheduler_wall_time, true)
    claim_monitor()
    Process.send_after(self(), :tick, @every)
    {:ok, %{sched: :scheduler.sample_all(), at: System.monotonic_time(:millisecond), totals: totals(), guilds: %{}, buckets: buckets()}}
  end

  @impl true
  def handle_info(:tick, state) do
    claim_monitor()
    Process.send_after(self(), :tick, @every)
    {:noreply, take(state)}
  end

  def handle_info({:monitor, who, event, info}, state) do
    :ets.update_counter(@table, {:monitor, event, source(who, info)}, 1, {{:monitor, event, source(who, info)}, 0})
    {:noreply, state}
  end

  @impl true
  def handle_call(:sample, _from, state) do
    state = take(state)
    {:reply, latest(), state}
  end

  # Never takes the monitor from someone else (a test watching for
  # long schedules, say): only when nobody holds it.
  defp claim_monitor do
    if :erlang.system_monitor() == :undefined, do: :erlang.system_monitor(self(), @monitor)
  end

  # Where a report came from, by module, so that the label set stays small.
  defp source(who, info) when is_list(info) do
    case info[:in] || info[:out] do
      {mod, _, _} -> inspect(mod)
      _ -> process_source(who)
    end
  end

  defp source(who, _info), do: process_source(who)

  defp process_source(port) when is_port(port), do: "port"

  defp process_source(pid) do
    case Process.info(pid, [:registered_name, :dictionary]) do
      [registered_name: name, dictionary: _] when is_atom(name) and name != [] -> inspect(name)
      [registered_name: _, dictionary: dict] -> with({mod, _, _} <- dict[:"$initial_call"], do: inspect(mod)) || "process"
      _ -> "process"
    end
  end

  defp take(state) do
    now = System.monotonic_time(:millisecond)
    secs = max(now - state.at, 1) / 1000
    sched = :scheduler.sample_all()
    util = :scheduler.utilization(state.sched, sched)
    totals = totals()
    {guilds, busiest, guild_work} = guilds(state.guilds)
    buckets = buckets()

    sample = %{
      at: System.os_time(:millisecond),
      schedulers: for({kind, id, u, _} <- util, kind in [:normal, :dirty_cpu], do: %{kind: kind, id: id, utilization: u}),
      scheduler_total: Enum.find_value(util, 0.0, fn {:total, u, _} -> u; _ -> nil end),
      run_queues: :erlang.statistics(:run_queue_lengths),
      memory: Map.new(:erlang.memory()),
      nif_memory: Realtime.Native.memory(),
      processes: :erlang.system_info(:process_count),
      ports: :erlang.system_info(:port_count),
      guilds: guilds,
      busiest_guilds: busiest,
      sessions: %{identifying: Metrics.value(:sessions, "identifying"), connected: Metrics.value(:sessions, "connected"), resumable: Metrics.value(:sessions, "resumable")},
      events_per_second: (totals.dispatched - state.totals.dispatched) / secs,
      deliveries_per_second: (totals.delivered - state.totals.delivered) / secs,
      identify_p99: interval_p99(state.buckets.identify, buckets.identify),
      dispatch_p99: interval_p99(state.buckets.delivery, buckets.delivery)
    }

    :ets.insert(@table, {:latest, sample})
    %{state | sched: sched, at: now, totals: totals, guilds: guild_work, buckets: buckets}
  end

  defp totals do
    %{counters: counters} = Metrics.read()
    sum = fn name -> for({^name, _, _, series} <- counters, {_, v} <- series, reduce: 0, do: (acc -> acc + v)) end
    %{dispatched: sum.("realtime_gateway_events_dispatched_total"), delivered: sum.("realtime_gateway_events_delivered_total")}
  end

  # {bounds, cumulative} of the identify and delivery histograms.
  defp buckets do
    %{histograms: hs} = Metrics.read()
    pick = fn name -> for({^name, _, [{_, bounds, cumulative, _, _} | _]} <- hs, do: {bounds, cumulative}) |> List.first() end
    %{identify: pick.("realtime_gateway_identify_seconds"), delivery: pick.("realtime_gateway_delivery_seconds")}
  end

  # The p99 of what was recorded between two snapshots of a histogram's
  # cumulative bucket counts: the first bound under which 99% fall (the
  # last bound if beyond; nil when nothing was recorded).
  defp interval_p99({bounds, before}, {bounds, now}) do
    diffs = Enum.zip_with(now, before, &(&1 - &2))
    total = List.last(diffs)

    if total == 0,
      do: nil,
      else: Enum.zip(bounds, diffs) |> Enum.find_value(List.last(bounds), fn {b, c} -> if c >= 0.99 * total, do: b end)
  end

  defp interval_p99(_, _), do: nil

  defp guilds(previous) do
    work =
      for {id, pid} <- Registry.select(Realtime.Guild.Registry, [{{:"$1", :"$2", :_}, [], [{{:"$1", :"$2"}}]}]),
          [message_queue_len: q, reductions: r] <- [Process.info(pid, [:message_queue_len, :reductions])],
          do: {id, q, r}

    busiest =
      work
      |> Enum.map(fn {id, q, r} -> %{id: to_string(id), mailbox: q, work: r - Map.get(previous, id, r)} end)
      |> Enum.sort_by(&{&1.work, &1.mailbox}, :desc)
      |> Enum.take(5)

    mailboxes = Enum.map(work, &elem(&1, 1))
    {%{count: length(work), mailbox_total: Enum.sum(mailboxes), mailbox_max: Enum.max(mailboxes, fn -> 0 end)}, busiest,
     Map.new(work, fn {id, _, r} -> {id, r} end)}
  end
end
