defmodule Realtime.Bench do
  @moduledoc """
  A small benchmark harness (Benchee is a hex package and unavailable here).

  Every comparison measures a **baseline in the same run** and prints each
  case's ratio to it. A case is a one-argument function that receives the
  iteration number, so it can vary its input without allocating a list of
  inputs up front.

  Method: each case is warmed up, then a batch size is calibrated so that one
  sample lasts at least `:min_sample_us`; the timing of a sample divided by
  its batch size is one per-call figure. The report gives the median and p99
  of those figures. Sub-microsecond calls cannot be timed one by one without
  the clock dominating, which is why samples are batches.

  Benchmarks report; they never fail on time.
  """

  @type case_fun :: (non_neg_integer -> any)
  @type result :: %{name: String.t(), median_ns: float, p99_ns: float, samples: pos_integer, batch: pos_integer}

  @defaults [warmup_ms: 100, samples: 200, min_sample_us: 20]

  @doc """
  Measures `baseline` and then each of `cases`, prints a table with the ratio
  of each median to the baseline's median, and returns the results.

  Options: `:warmup_ms`, `:samples`, `:min_sample_us`.
  """
  @spec compare(String.t(), {String.t(), case_fun}, [{String.t(), case_fun}], keyword) :: [result]
  def compare(title, {_, _} = baseline, cases, opts \\ []) do
    opts = Keyword.merge(@defaults, opts)
    [base | rest] = results = Enum.map([baseline | cases], fn {name, fun} -> measure(name, fun, opts) end)

    IO.puts("\n## #{title}")
    IO.puts(row(["case", "median", "p99", "ratio to baseline"]))
    IO.puts(row(["#{base.name} (baseline)", fmt(base.median_ns), fmt(base.p99_ns), "1.00x"]))

    for r <- rest do
      IO.puts(row([r.name, fmt(r.median_ns), fmt(r.p99_ns), ratio(r.median_ns, base.median_ns)]))
    end

    results
  end

  @doc """
  Like `compare/4`, but robust to a noisy machine: `rounds` rounds, each
  measuring the baseline and every case once, in an order that alternates
  between rounds (A B C, C B A, ...). Each case's figure in a round is
  divided by the baseline's in the same round; the table gives each case's
  median time, and the median ratio with its spread (min..max) over the
  rounds. Returns `[{name, median_ns, [ratios]}]`.
  """
  @spec rounds(String.t(), {String.t(), case_fun}, [{String.t(), case_fun}], pos_integer, keyword) :: [{String.t(), float, [float]}]
  def rounds(title, {base_name, _} = baseline, cases, rounds, opts \\ []) do
    all = [baseline | cases]

    runs =
      for r <- 1..rounds do
        order = if rem(r, 2) == 0, do: Enum.reverse(all), else: all
        Map.new(order, fn {name, fun} -> {name, measure(name, fun, opts).median_ns} end)
      end

    IO.puts("\n## #{title} (#{rounds} interleaved rounds)")
    IO.puts(row(["case", "median", "ratio (median)", "spread"]))

    for {name, _} <- all do
      ratios = runs |> Enum.map(&(&1[name] / &1[base_name])) |> Enum.sort()
      m = runs |> Enum.map(& &1[name]) |> Enum.sort() |> percentile(50)
      label = if name == base_name, do: "#{name} (baseline)", else: name
      IO.puts(row([label, fmt(m), :io_lib.format("~.2fx", [percentile(ratios, 50)]), :io_lib.format("~.2f..~.2f", [hd(ratios), List.last(ratios)])]))
      {name, m, ratios}
    end
  end

  @doc """
  Measures one function and returns its figures, without printing.
  """
  @spec measure(String.t(), case_fun, keyword) :: result
  def measure(name, fun, opts \\ []) do
    opts = Keyword.merge(@defaults, opts)
    warm_until = now_ns() + opts[:warmup_ms] * 1_000_000
    warm_up(fun, 0, warm_until)
    batch = calibrate(fun, 1, opts[:min_sample_us] * 1_000)

    per_call =
      for s <- 1..opts[:samples] do
        first = s * batch
        t0 = now_ns()
        run_batch(fun, first, first + batch)
        (now_ns() - t0) / batch
      end
      |> Enum.sort()

    %{name: name, median_ns: percentile(per_call, 50), p99_ns: percentile(per_call, 99), samples: opts[:samples], batch: batch}
  end

  @doc "Formats a ratio of two times, reading as 'x times the baseline'."
  @spec ratio(number, number) :: String.t()
  def ratio(value, baseline) when baseline > 0, do: :io_lib.format("~.2fx", [value / baseline]) |> to_string()
  def ratio(_, _), do: "n/a"

  @doc "Formats nanoseconds with a unit that keeps three significant figures."
  @spec fmt(number) :: String.t()
  def fmt(ns) when ns < 1_000, do: "#{Float.round(ns / 1, 1)} ns"
  def fmt(ns) when ns < 1_000_000, do: "#{Float.round(ns / 1_000, 2)} µs"
  def fmt(ns), do: "#{Float.round(ns / 1_000_000, 2)} ms"

  @doc "The p-th percentile (nearest rank) of an ascending list."
  @spec percentile([number], number) :: number
  def percentile(sorted, p) do
    n = length(sorted)
    Enum.at(sorted, min(n - 1, max(0, ceil(p / 100 * n) - 1)))
  end

  defp warm_up(fun, i, until) do
    fun.(i)
    if now_ns() < until, do: warm_up(fun, i + 1, until), else: :ok
  end

  defp calibrate(fun, batch, min_ns) do
    t0 = now_ns()
    run_batch(fun, 0, batch)

    if now_ns() - t0 >= min_ns or batch >= 1_000_000,
      do: batch,
      else: calibrate(fun, batch * 2, min_ns)
  end

  defp run_batch(_fun, i, stop) when i >= stop, do: :ok

  defp run_batch(fun, i, stop) do
    fun.(i)
    run_batch(fun, i + 1, stop)
  end

  defp now_ns, do: System.monotonic_time(:nanosecond)

  defp row(cols) do
    cols
    |> Enum.zip([44, 12, 12, 18])
    |> Enum.map_join(" ", fn {c, w} -> String.pad_trailing(to_string(c), w) end)
  end
end
