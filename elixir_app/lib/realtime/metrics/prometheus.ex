defmodule Realtime.Metrics.Prometheus do
  @moduledoc """
  The metrics in Prometheus' text exposition format 0.0.4: `# HELP` and
  `# TYPE` for each family, counters, gauges, and histograms with
  cumulative `_bucket{le=...}` series, `_sum` and `_count`. Pure: it
  renders what `Realtime.Metrics.read/0` and the sampler give it.
  """

  @content_type "text/plain; version=0.0.4; charset=utf-8"

  @doc "The content type of the exposition."
  @spec content_type() :: String.t()
  def content_type, do: @content_type

  @doc "The exposition of `metrics` (from `Realtime.Metrics.read/0`), `sample` and `monitor` events."
  @spec render(map, map, [{{atom, String.t()}, non_neg_integer}]) :: iodata
  def render(metrics, sample, monitor) do
    [
      Enum.map(metrics.counters, fn {name, help, kind, series} -> family(name, help, kind, series) end),
      Enum.map(metrics.histograms, &histogram/1),
      samples(sample),
      family("realtime_system_monitor_events_total", "System monitor reports, by event and by the module or process they came from.", :counter,
        for({{event, source}, n} <- monitor, do: {[{"event", event}, {"source", source}], n}))
    ]
  end

  defp samples(s) when map_size(s) == 0, do: []

  defp samples(s) do
    [
      family("realtime_beam_scheduler_utilization", "Share of wall time each scheduler was busy over the last sample interval.", :gauge,
        for(%{kind: k, id: id, utilization: u} <- s.schedulers, do: {[{"kind", k}, {"scheduler", id}], u})),
      family("realtime_beam_run_queue_length", "Processes waiting to run, per normal scheduler.", :gauge,
        for({q, i} <- Enum.with_index(s.run_queues, 1), do: {[{"scheduler", i}], q})),
      family("realtime_beam_memory_bytes", "BEAM memory by type (erlang:memory/0).", :gauge, for({k, v} <- s.memory, do: {[{"type", k}], v})),
      family("realtime_beam_processes", "Processes alive.", :gauge, [{[], s.processes}]),
      family("realtime_beam_ports", "Ports open (sockets among them).", :gauge, [{[], s.ports}]),
      family("realtime_nif_memory_bytes", "Bytes held by the NIFs, which erlang:memory/0 cannot see.", :gauge,
        [{[{"kind", "allocated"}], s.nif_memory.allocated}, {[{"kind", "peak"}], s.nif_memory.peak}]),
      family("realtime_guilds", "Guild processes on this node.", :gauge, [{[], s.guilds.count}]),
      family("realtime_guild_mailbox_messages", "Messages waiting in guild mailboxes: in all of them, and in the fullest.", :gauge,
        [{[{"stat", "total"}], s.guilds.mailbox_total}, {[{"stat", "max"}], s.guilds.mailbox_max}])
    ]
  end

  defp family(_name, _help, _kind, []), do: []

  defp family(name, help, kind, series) do
    ["# HELP ", name, " ", escape_help(help), "\n# TYPE ", name, " ", Atom.to_string(kind), "\n", Enum.map(series, fn {labels, v} -> line(name, labels, v) end)]
  end

  defp histogram({name, help, series}) do
    [
      "# HELP ", name, " ", escape_help(help), "\n# TYPE ", name, " histogram\n",
      Enum.map(series, fn {labels, bounds, cumulative, count, sum} ->
        [
          Enum.zip_with(bounds, cumulative, fn b, c -> line(name <> "_bucket", labels ++ [{"le", number(b)}], c) end),
          line(name <> "_bucket", labels ++ [{"le", "+Inf"}], count),
          line(name <> "_sum", labels, sum),
          line(name <> "_count", labels, count)
        ]
      end)
    ]
  end

  defp line(name, [], v), do: [name, " ", number(v), "\n"]
  defp line(name, labels, v), do: [name, "{", labels |> Enum.map(fn {k, l} -> [k, "=\"", escape(l), "\""] end) |> Enum.intersperse(","), "} ", number(v), "\n"]

  defp number(v) when is_integer(v), do: Integer.to_string(v)
  defp number(v) when is_float(v), do: :erlang.float_to_binary(v, [:short])
  defp number(v) when is_binary(v), do: v

  defp escape(v) when is_atom(v) or is_integer(v), do: to_string(v)
  defp escape(v), do: v |> String.replace("\\", "\\\\") |> String.replace("\"", "\\\"") |> String.replace("\n", "\\n")

  defp escape_help(help), do: help |> String.replace("\\", "\\\\") |> String.replace("\n", "\\n")
end
