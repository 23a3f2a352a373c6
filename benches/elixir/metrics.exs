# mix bench metrics [ROUNDS]
#
# The cost of one metric update on the hot path, against an ETS
# update_counter on one shared row and a GenServer that counts (cast, and
# call), measured in one run. Cases are interleaved in rounds (A B C ...,
# A B C ...); each round's figure is divided by the same round's ETS
# baseline, and the table gives the median ratio and its spread. Every
# figure includes the harness's own cost per call (an empty function),
# which is measured too and subtracted in the last column.
#
# Goals: ≤ 50 ns per counter increment, ≤ 100 ns per histogram record.

defmodule Bench.MetricsScript do
  require Realtime.Metrics, as: Metrics
  alias Realtime.Bench

  defmodule Counter do
    use GenServer
    def init(n), do: {:ok, n}
    def handle_cast(:inc, n), do: {:noreply, n + 1}
    def handle_call(:inc, _, n), do: {:reply, :ok, n + 1}
  end

  # Call sites as the product writes them: literal key and label, or a
  # label known only at run time.
  def inc_literal(_), do: Metrics.inc(:dispatched, "MESSAGE_CREATE")
  def inc_runtime(t), do: Metrics.inc(:dispatched, t)
  def observe(i), do: Metrics.observe(:delivery, nil, i)

  def run(args) do
    rounds = String.to_integer(List.first(args) || "7")
    table = :ets.new(:bench_counter, [:public, write_concurrency: true])
    :ets.insert(table, {:n, 0})
    {:ok, server} = GenServer.start_link(Counter, 0)
    type = Enum.random(["MESSAGE_CREATE"])

    cases = [
      {"empty call (harness)", fn _ -> :ok end},
      {"ETS update_counter (baseline)", fn _ -> :ets.update_counter(table, :n, 1) end},
      {"GenServer.cast", fn _ -> GenServer.cast(server, :inc) end},
      {"GenServer.call", fn _ -> GenServer.call(server, :inc) end},
      {"Metrics.inc, literal label", &inc_literal/1},
      {"Metrics.inc, run-time label", fn _ -> inc_runtime(type) end},
      {"Metrics.observe (HDR NIF)", &observe/1}
    ]

    runs =
      for _ <- 1..rounds, {name, fun} <- cases do
        {name, Bench.measure(name, fun, samples: 60, warmup_ms: 20).median_ns}
      end

    by = Enum.group_by(runs, &elem(&1, 0), &elem(&1, 1))
    base = by["ETS update_counter (baseline)"]
    harness = median(by["empty call (harness)"])

    IO.puts("\n## Cost of one metric update (#{rounds} interleaved rounds; ratios to the ETS baseline of the same round)")
    IO.puts(Enum.map_join(["case", "median", "ratio to ETS (median, spread)", "minus harness"], "", &String.pad_trailing(&1, 32)))

    for {name, _} <- cases do
      ratios = Enum.zip_with(by[name], base, &(&1 / &2)) |> Enum.sort()
      m = median(by[name])

      IO.puts(
        Enum.map_join(
          [name, Bench.fmt(m), "#{f(Bench.percentile(ratios, 50))}x (#{f(hd(ratios))}..#{f(List.last(ratios))})", Bench.fmt(max(m - harness, 0))],
          "",
          &String.pad_trailing(&1, 32)
        )
      )
    end
  end

  defp median(list), do: list |> Enum.sort() |> Bench.percentile(50)
  defp f(x), do: :io_lib.format("~.2f", [x]) |> to_string()
end

Bench.MetricsScript.run(System.argv())
