# mix bench push [ROUNDS] [PUSHES]
#
# Pushes per minute through Realtime.Push.Buffer and its senders (mute
# check included) to a local sink, against a plain process mailbox: the
# same producers send the same jobs to one process that only counts them.
# Four producers play guilds, each message mentioning 10 offline members.
# Cases are interleaved in rounds; the table gives each case's median rate
# and its ratio to the mailbox of the same round (median, spread).
#
# Then memory under a stalled sink: the same flood at a buffer whose
# senders never return, against a process that never reads its mailbox.
#
# Goal: ≥ 1,000,000 pushes per minute.

defmodule Bench.PushScript do
  alias Realtime.Bench
  alias Realtime.Push.{Buffer, Job, Sender}

  defmodule CountSink do
    @moduledoc false
    @behaviour Realtime.Push.Sink
    # Counts what it takes, after handing it to `inner` (a real sink) if there is one.
    def deliver(batch, %{counter: c, goal: goal, owner: owner} = config) do
      with {mod, inner} <- config[:inner], do: :ok = mod.deliver(batch, inner)
      :counters.add(c, 1, length(batch))
      if :counters.get(c, 1) >= goal, do: send(owner, :all_delivered)
      :ok
    end
  end

  defmodule StallSink do
    @moduledoc false
    @behaviour Realtime.Push.Sink
    def deliver(_batch, _config), do: Process.sleep(:infinity)
  end

  @producers 4
  @per_message 10
  @senders 4

  def run(args) do
    rounds = String.to_integer(Enum.at(args, 0, "5"))
    pushes = String.to_integer(Enum.at(args, 1, "400000"))
    # 20,000 users, so the mute cache is warm after the first round, as in a running system.
    chunks = for m <- 1..div(pushes, @per_message), do: Job.for_message(message(m), for(u <- 1..@per_message, do: 1_000_000 + rem(m * @per_message + u, 20_000)))
    per_producer = Enum.chunk_every(chunks, div(length(chunks), @producers))
    file = Path.join(System.tmp_dir!(), "realtime-bench-pushes.jsonl")

    cases = [
      {"process mailbox (baseline)", fn -> mailbox(per_producer, pushes) end},
      {"Buffer + #{@senders} senders, counting sink", fn -> pipeline(per_producer, pushes, fn config -> {CountSink, config} end) end},
      {"Buffer + #{@senders} senders, JSON-lines file sink", fn -> File.rm(file) && pipeline(per_producer, pushes, fn config -> {CountSink, Map.put(config, :inner, {Realtime.Push.FileSink, %{path: file}})} end) end}
    ]

    # One warm-up round, not counted; it also fills the mute cache.
    for {name, fun} <- cases, do: IO.puts("warm-up: #{name}: #{round(fun.())} pushes/min")
    runs = for _ <- 1..rounds, {name, fun} <- cases, do: {name, fun.()}
    File.rm(file)
    by = Enum.group_by(runs, &elem(&1, 0), &elem(&1, 1))
    base = by["process mailbox (baseline)"]

    IO.puts("\n## Pushes per minute, #{pushes} pushes a run, #{rounds} interleaved rounds (#{System.schedulers_online()} schedulers)")
    IO.puts(Enum.map_join(["case", "median pushes/min", "ratio to mailbox (median, spread)"], "", &String.pad_trailing(&1, 46)))

    for {name, _} <- cases do
      ratios = Enum.zip_with(by[name], base, &(&1 / &2)) |> Enum.sort()
      cols = [name, "#{round(median(by[name]))}", "#{f(median(ratios))}x (#{f(hd(ratios))}..#{f(List.last(ratios))})"]
      IO.puts(Enum.map_join(cols, "", &String.pad_trailing(&1, 46)))
    end

    stalled(per_producer, pushes * 5)
  end

  defp message(m), do: %{guild_id: 42, channel_id: 43, id: m, author: %{username: "ada"}, content: "a mention <@1000001>"}

  # Pushes per minute: every producer sends its chunks; done when all arrived.
  defp timed(per_producer, send_chunk) do
    owner = self()
    t0 = System.monotonic_time()
    producers = for chunks <- per_producer, do: spawn_link(fn -> Enum.each(chunks, send_chunk) && send(owner, :produced) end)
    for _ <- producers, do: receive(do: (:produced -> :ok))
    receive do
      :all_delivered -> :ok
    after
      60_000 -> raise "pushes did not all arrive within a minute"
    end

    seconds = System.convert_time_unit(System.monotonic_time() - t0, :native, :microsecond) / 1_000_000
    Enum.sum(Enum.map(per_producer, &length/1)) * @per_message / seconds * 60
  end

  defp mailbox(per_producer, goal) do
    owner = self()
    counter = spawn_link(fn -> count(0, goal, owner) end)
    timed(per_producer, &send(counter, {:push_batch, &1}))
  end

  defp count(n, goal, owner) when n >= goal, do: send(owner, :all_delivered)

  defp count(n, goal, owner) do
    receive do
      {:push_batch, jobs} -> count(n + length(jobs), goal, owner)
    end
  end

  defp pipeline(per_producer, goal, sink) do
    name = :bench_push_buffer
    # Room for every push: this measures the rate, not the drop policy.
    {:ok, buffer} = Buffer.start_link(name: name, capacity: goal)
    counter = :counters.new(1, [:write_concurrency])
    config = %{buffer: name, batch: 500, attempts: 5, backoff_ms: 200, backoff_max_ms: 10_000, sink: sink.(%{counter: counter, goal: goal, owner: self()})}
    senders = for _ <- 1..@senders, do: elem(Sender.start_link(config), 1)

    rate = timed(per_producer, &Buffer.push(name, &1))
    dropped = Buffer.stats(name).dropped
    if dropped > 0, do: IO.puts("  (#{dropped} dropped by the buffer in this run)")
    for pid <- [buffer | senders], do: unlink_kill(pid)
    rate
  end

  defp unlink_kill(pid) do
    Process.unlink(pid)
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    receive do: ({:DOWN, ^ref, _, _, _} -> :ok)
  end

  # The flood at a stalled sink: the buffer stays at its capacity; a mailbox grows.
  defp stalled(per_producer, pushes) do
    rounds = div(pushes, Enum.sum(Enum.map(per_producer, &length/1)) * @per_message)
    name = :bench_push_stalled
    {:ok, buffer} = Buffer.start_link(name: name, capacity: 100_000)
    config = %{buffer: name, batch: 500, attempts: 5, backoff_ms: 200, backoff_max_ms: 10_000, sink: {StallSink, %{}}}
    senders = for _ <- 1..@senders, do: elem(Sender.start_link(config), 1)
    mem0 = :erlang.memory(:total)
    for _ <- 1..rounds, chunks <- per_producer, chunk <- chunks, do: Buffer.push(name, chunk)
    # The buffer answers once it has taken every push before.
    stats = Buffer.stats(name, :infinity)
    :erlang.garbage_collect(buffer)
    {:memory, buffer_bytes} = Process.info(buffer, :memory)
    buffer_total = :erlang.memory(:total) - mem0
    for pid <- [buffer | senders], do: unlink_kill(pid)
    :erlang.garbage_collect()

    sink = spawn(fn -> receive(do: (:never -> :ok)) end)
    mem0 = :erlang.memory(:total)
    for _ <- 1..rounds, chunks <- per_producer, chunk <- chunks, do: send(sink, {:push_batch, chunk})
    {:message_queue_len, queued} = Process.info(sink, :message_queue_len)
    {:memory, mailbox_bytes} = Process.info(sink, :memory)
    mailbox_total = :erlang.memory(:total) - mem0
    Process.exit(sink, :kill)

    IO.puts("\n## Memory under a stalled sink, #{rounds * Enum.sum(Enum.map(per_producer, &length/1)) * @per_message} pushes")
    IO.puts("Buffer (capacity #{stats.capacity}): holds #{stats.size}, dropped #{stats.dropped} (counted); process #{mb(buffer_bytes)}, VM growth #{mb(buffer_total)}")
    IO.puts("Process mailbox (baseline): holds #{queued * @per_message}, dropped 0; process #{mb(mailbox_bytes)}, VM growth #{mb(mailbox_total)}")
    IO.puts("Ratio of VM growth, buffer to mailbox: #{f(buffer_total / max(mailbox_total, 1))}x")
  end

  defp mb(bytes), do: "#{f(bytes / 1_048_576)} MiB"
  defp median(list), do: list |> Enum.sort() |> Bench.percentile(50)
  defp f(x), do: :io_lib.format("~.2f", [x / 1]) |> to_string()
end

Bench.PushScript.run(System.argv())
