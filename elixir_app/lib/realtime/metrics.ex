defmodule Realtime.Metrics do
  @moduledoc """
  Counters, gauges and histograms that cost almost nothing where the work
  happens, read by one sampler and exported by one endpoint
  (`Realtime.Metrics.Endpoint`: `/metrics`, `/status`).

  Every metric and every label value is declared below, so a metric's slot
  is found by a compiled function clause, not a table lookup:

    * **counters** and up/down **gauges** live in one `:counters` array
      created with `:write_concurrency`, which keeps a copy per scheduler
      and sums them when read: no scheduler contends with another;
    * **histograms** are HDR histograms in a NIF, one shard per scheduler
      thread, merged when read (`native/metrics`); values are recorded in
      the metric's unit (microseconds for `_seconds`, else counts or bytes);
    * **samples** (memory, run queues, guild mailboxes, ...) are taken once
      a second by `Realtime.Metrics.Sampler`, never on request.

  A label value that was not declared is counted under `"other"`, so a
  metric's cardinality is fixed at compile time.
  """

  alias Realtime.Native

  @event_types ~w(READY RESUMED GUILD_CREATE GUILD_DELETE MESSAGE_CREATE MESSAGE_UPDATE MESSAGE_DELETE
                  MESSAGE_REACTION_ADD MESSAGE_REACTION_REMOVE TYPING_START PRESENCE_UPDATE
                  GUILD_MEMBER_ADD GUILD_MEMBER_REMOVE GUILD_MEMBER_UPDATE GUILD_MEMBERS_CHUNK
                  GUILD_MEMBER_LIST_UPDATE PASSIVE_UPDATE_V2 CHANNEL_CREATE CHANNEL_UPDATE CHANNEL_DELETE
                  GUILD_ROLE_CREATE GUILD_ROLE_UPDATE GUILD_ROLE_DELETE other)
  @close_codes ~w(1000 1001 4000 4001 4002 4003 4004 4005 4007 4008 4009 4010 4011 4012 4013 4014 other)

  # {kind, key, prometheus name, help, label name, label values}
  @counters [
    {:counter, :connections, "realtime_gateway_connections_total", "WebSocket connections opened.", nil, [nil]},
    {:gauge, :sessions, "realtime_gateway_sessions", "Sessions by state: identifying (no READY yet), connected, resumable (no socket, within the resume window).", "state", ~w(identifying connected resumable)},
    {:counter, :identifies, "realtime_gateway_identifies_total", "Identifies answered with READY.", nil, [nil]},
    {:counter, :resumes, "realtime_gateway_resumes_total", "Resumes, by outcome.", "outcome", ~w(resumed invalid)},
    {:counter, :dispatched, "realtime_gateway_events_dispatched_total", "Events dispatched by guilds, once per event, by type.", "type", @event_types},
    {:counter, :delivered, "realtime_gateway_events_delivered_total", "Events handed to sessions, once per recipient, by type.", "type", @event_types},
    {:counter, :bytes_out, "realtime_gateway_out_bytes_total", "Bytes of gateway frames, before compression (uncompressed) and as sent (sent).", "stage", ~w(uncompressed sent)},
    {:counter, :closes, "realtime_gateway_close_codes_total", "Gateway connections closed, by close code.", "code", @close_codes},
    {:counter, :rate_limited, "realtime_rate_limit_hits_total", "Requests refused by a rate limit, by limit.", "limit", ~w(rest_route rest_global gateway_frames identify)},
    {:counter, :dirty, "realtime_nif_dirty_fallbacks_total", "NIF calls that went to a dirty scheduler (large input or a busy lock), by NIF.", "nif", ~w(sorted_set bitmap etf json fanout store zstd)},
    {:counter, :store_errors, "realtime_store_errors_total", "Store writes and reads that failed.", "op", ~w(write read)},
    {:counter, :slow_consumers, "realtime_gateway_slow_consumers_total", "Connections closed because their client did not read.", nil, [nil]},
    {:counter, :push_enqueued, "realtime_push_enqueued_total", "Push notifications queued for offline mentioned members.", nil, [nil]},
    {:counter, :push_capped, "realtime_push_capped_total", "Pushes left out by the per-message cap.", nil, [nil]},
    {:counter, :push_dropped, "realtime_push_dropped_total", "Pushes dropped: by the full buffer (overflow), or muted by the user.", "reason", ~w(overflow muted)},
    {:counter, :push_delivered, "realtime_push_delivered_total", "Pushes the sink took.", nil, [nil]},
    {:counter, :push_retries, "realtime_push_retries_total", "Batch deliveries retried after a sink error.", nil, [nil]},
    {:counter, :push_dead_letter, "realtime_push_dead_letter_total", "Pushes given up after the last retry.", nil, [nil]}
  ]

  # {key, prometheus name, help, label name, label values, unit, max, buckets}
  @us_buckets [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000]
  @histograms [
    {:identify, "realtime_gateway_identify_seconds", "From IDENTIFY received to READY sent.", nil, [nil], :seconds, @us_buckets},
    {:fanout_size, "realtime_guild_fanout_recipients", "Recipients of one dispatched event.", nil, [nil], :count,
     [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]},
    {:fanout, "realtime_guild_fanout_seconds", "Time a guild spends handing one event to its recipients.", nil, [nil], :seconds, @us_buckets},
    {:delivery, "realtime_gateway_delivery_seconds", "From an event's dispatch by its guild to its frame leaving the socket.", nil, [nil], :seconds, @us_buckets},
    {:encode, "realtime_gateway_encode_seconds", "Encoding one event, by encoding.", "encoding", ~w(json etf), :seconds, @us_buckets},
    {:member_list, "realtime_guild_member_list_update_seconds", "Applying one member change to a guild's lazy member lists.", nil, [nil], :seconds, @us_buckets},
    {:store_write, "realtime_store_write_seconds", "From a guild's write to the store's answer.", nil, [nil], :seconds, @us_buckets},
    {:store_read, "realtime_store_read_seconds", "From a read to the store's answer.", nil, [nil], :seconds, @us_buckets}
  ]

  @counter_slots (for {kind, key, name, help, label, values} <- @counters, value <- values, do: {kind, key, name, help, label, value})
                 |> Enum.with_index(1)
  @histogram_slots (for {key, name, help, label, values, unit, buckets} <- @histograms, value <- values, do: {key, name, help, label, value, unit, buckets})
                   |> Enum.with_index(1)

  @counters_key Realtime.Metrics.Counters
  @histograms_key Realtime.Metrics.Histograms

  @doc "Creates the counters and histograms. The application calls it once, at start."
  @spec init() :: :ok
  def init do
    :persistent_term.put(@counters_key, :counters.new(length(@counter_slots), [:write_concurrency]))
    shards = :erlang.system_info(:schedulers) + :erlang.system_info(:dirty_cpu_schedulers) + :erlang.system_info(:dirty_io_schedulers)
    hs = for {{_, _, _, _, _, unit, _}, _} <- @histogram_slots, do: Native.histogram_new(shards, max(unit), 2)
    :persistent_term.put(@histograms_key, List.to_tuple(hs))
    :ok
  end

  defp max(:seconds), do: 600_000_000
  defp max(:count), do: 100_000_000

  @doc """
  Adds `by` to counter (or gauge) `key` for label `value` (`nil` when it
  has no label). A macro: with a literal key and value (the usual case) the
  slot is found at compile time, and the call is one `:counters.add/3`.
  """
  defmacro inc(key, value \\ nil, by \\ 1), do: counter_op(:add, key, value, by)

  @doc "Subtracts `by` from gauge `key` for label `value` (a macro, like `inc/3`)."
  defmacro dec(key, value \\ nil, by \\ 1), do: counter_op(:sub, key, value, by)

  defp counter_op(op, key, value, by) when is_atom(key) and (is_binary(value) or is_integer(value) or is_nil(value)) do
    index = slot(key, value)
    quote do
      # Nothing is counted before Realtime.Metrics.init/0 (the NIF modules
      # work without the application).
      case :persistent_term.get(unquote(@counters_key), nil) do
        nil -> :ok
        counters -> :counters.unquote(op)(counters, unquote(index), unquote(by))
      end
    end
  end

  defp counter_op(op, key, value, by) do
    quote do: Realtime.Metrics.count(unquote(op), unquote(key), unquote(value), unquote(by))
  end

  @doc false
  @spec count(:add | :sub, atom, term, integer) :: :ok
  def count(op, key, value, by) do
    case :persistent_term.get(@counters_key, nil) do
      nil -> :ok
      counters when op == :add -> :counters.add(counters, slot(key, value), by)
      counters -> :counters.sub(counters, slot(key, value), by)
    end
  end

  @doc "Records `amount` (microseconds for a `_seconds` histogram) in histogram `key` for label `value`."
  @spec observe(atom, term, non_neg_integer) :: :ok
  def observe(key, value, amount) do
    case :persistent_term.get(@histograms_key, nil) do
      nil -> :ok
      histograms -> Native.histogram_record(elem(histograms, hslot(key, value) - 1), amount)
    end
  end

  @doc "Runs `fun`, records its duration in microseconds in histogram `key`, and returns its result."
  @spec time(atom, term, (-> result)) :: result when result: var
  def time(key, value \\ nil, fun) do
    t0 = System.monotonic_time()
    result = fun.()
    observe(key, value, System.convert_time_unit(System.monotonic_time() - t0, :native, :microsecond))
    result
  end

  for {{_kind, key, _name, _help, _label, value}, index} <- @counter_slots do
    defp slot(unquote(key), unquote(value)), do: unquote(index)
  end

  # Label values may arrive as integers (close codes); undeclared ones count as "other".
  defp slot(key, value) when is_integer(value), do: slot(key, Integer.to_string(value))
  defp slot(key, _undeclared), do: slot(key, "other")

  for {{key, _name, _help, _label, value, _unit, _buckets}, index} <- @histogram_slots do
    defp hslot(unquote(key), unquote(value)), do: unquote(index)
  end

  @doc "The value of counter or gauge `key` for label `value`."
  @spec value(atom, term) :: integer
  def value(key, value \\ nil), do: :counters.get(:persistent_term.get(@counters_key), slot(key, value))

  @doc """
  Every counter and gauge as `{name, help, type, [{labels, value}]}`, and
  every histogram as `{name, help, [{labels, bounds_in_unit, cumulative, count, sum_in_unit}]}`,
  for exposition.
  """
  @spec read() :: %{counters: list, histograms: list}
  def read do
    counters = :persistent_term.get(@counters_key)
    histograms = :persistent_term.get(@histograms_key)

    %{
      counters:
        for {{kind, key, name, help, label, _}, _} <- Enum.uniq_by(@counter_slots, fn {{_, key, _, _, _, _}, _} -> key end) do
          series = for {{_, ^key, _, _, _, value}, index} <- @counter_slots, do: {labels(label, value), :counters.get(counters, index)}
          {name, help, kind, series}
        end,
      histograms:
        for {{key, name, help, label, _, unit, buckets}, _} <- Enum.uniq_by(@histogram_slots, fn {{key, _, _, _, _, _, _}, _} -> key end) do
          series =
            for {{^key, _, _, _, value, _, _}, index} <- @histogram_slots do
              {cumulative, count, sum} = Native.histogram_snapshot(elem(histograms, index - 1), buckets)
              {labels(label, value), scale(buckets, unit), cumulative, count, scale(sum, unit)}
            end

          {name, help, series}
        end
    }
  end

  @doc "The `q` quantile of histogram `key` (label `value`), in its unit (seconds or count)."
  @spec quantile(atom, term, float) :: number
  def quantile(key, value \\ nil, q) do
    {{_, _, _, _, _, unit, _}, index} = Enum.find(@histogram_slots, fn {{k, _, _, _, v, _, _}, _} -> k == key and v == value end)
    Native.histogram_quantile(elem(:persistent_term.get(@histograms_key), index - 1), q) |> scale(unit)
  end

  defp labels(nil, nil), do: []
  defp labels(label, value), do: [{label, value}]

  defp scale(list, unit) when is_list(list), do: Enum.map(list, &scale(&1, unit))
  defp scale(us, :seconds), do: us / 1_000_000
  defp scale(n, :count), do: n
end
