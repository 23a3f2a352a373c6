# mix bench load [--connections 5000,10000,19000] [--storm 10000] [--members 100000]
#                [--fanout 10000,19000] [--rates 1,2,5,10,20] [--ceiling-rates 5,10,20,40,80]
#                [--step 5] [--slow 1]
#
# The gateway under load, each part bounded, all on this machine: the
# gateway runs in its own OS process on the synthetic dataset
# (REALTIME_SEED=synthetic:...), and the Rust load generator
# (benches/loadgen, built first) opens the sessions from 127.0.0.x.
#
#   connections  N idle identified heartbeating sessions, stepping up:
#                memory per session (BEAM process memory, and resident
#                growth) and the time to connect them all
#   storm        N sessions identify at once: identifies/s, READY p50/p99
#   fanout       one guild of --members members, with N connected, and a
#                REST publisher at rising rates: delivered events/s,
#                end-to-end p50/p99/p999 from the nonce, scheduler
#                utilisation per scheduler, and the knee (the highest rate
#                whose p99 stays within 250 ms)
#   ceiling      the same generator against a minimal Cowboy handler that
#                lives in this script, not in the product: it broadcasts
#                frames of the same size from one relay per scheduler, with
#                no guild, session or store. The most this machine's BEAM
#                and TCP stack deliver; ours is given as a ratio to it.
#   slow         --slow % of sessions stop reading their socket: the others'
#                p99 against a run without, and the server's memory
#
# This machine allows 20,000 open files per process (a hard limit that
# cannot be raised without CAP_SYS_RESOURCE), so one node holds at most
# about 19,000 connections here; the defaults stay under it.
#
# The last line is for tools:
#   load: sessions=N identify_per_s=A delivered_per_s=X ceiling_per_s=Y ratio=R p99_ms=Z mem_per_session_kb=M

Code.require_file("../../test/support/app_node.ex", __DIR__)

defmodule Bench.Load do
  alias Realtime.Test.AppNode
  alias Realtime.Seed.Synthetic

  @root Path.expand("../..", __DIR__)
  @loadgen Path.join(@root, "target/release/loadgen")
  @bot "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @knee_p99_ms 250

  def run(argv) do
    {opts, _, _} =
      OptionParser.parse(argv,
        strict: [connections: :string, storm: :integer, members: :integer, fanout: :string, rates: :string, ceiling_rates: :string, step: :integer, slow: :float]
      )

    ints = fn key, default -> opts |> Keyword.get(key, default) |> String.split(",") |> Enum.map(&String.to_integer/1) end
    o = %{
      connections: ints.(:connections, "5000,10000,19000"),
      storm: Keyword.get(opts, :storm, 10_000),
      members: Keyword.get(opts, :members, 100_000),
      fanout: ints.(:fanout, "10000,19000"),
      rates: ints.(:rates, "1,2,5,10,20"),
      ceiling_rates: ints.(:ceiling_rates, "5,10,20,40,80"),
      step: Keyword.get(opts, :step, 5),
      slow: Keyword.get(opts, :slow, 1.0)
    }

    {_, 0} = System.cmd("cargo", ["build", "--release", "--quiet", "-p", "loadgen"], cd: @root, stderr_to_stdout: true)
    dir = Path.join(System.tmp_dir!(), "realtime-bench-load-#{System.pid()}")
    File.rm_rf!(dir)
    IO.puts("starting the gateway on synthetic:members=#{o.members} ...")

    {:ok, node} =
      AppNode.start([{"REALTIME_SEED", "synthetic:members=#{o.members},channels=1"}, {"REALTIME_DATA_DIR", dir}],
        erl: "+Q 65536 +P 2000000",
        timeout: 300_000,
        app_env: [resume_window: 2_000, passive_members: 100_000_000]
      )

    try do
      mem = connections(node, o.connections)
      storm = storm(node, o.storm)
      {fanout, knee} = fanout(node, o)
      n = List.last(o.fanout)
      ceiling = ceiling(n, o)
      slow(node, o, knee)
      # Ours against the ceiling, at the same number of sessions.
      best = fanout |> Enum.filter(&(&1.connected == n)) |> Enum.max_by(& &1.delivered_per_s)

      IO.puts(
        "\nload: sessions=#{List.last(o.connections)} identify_per_s=#{round(storm["identify_per_s"])} " <>
          "delivered_per_s=#{round(best.delivered_per_s)} ceiling_per_s=#{round(ceiling)} ratio=#{fmt(best.delivered_per_s / ceiling)} " <>
          "p99_ms=#{fmt(best.p99)} mem_per_session_kb=#{fmt(mem / 1024)}"
      )
    after
      AppNode.kill(node)
      File.rm_rf!(dir)
    end
  end

  # The generator as an OS process; its JSON lines arrive as messages.
  defp loadgen(args) do
    Port.open({:spawn_executable, @loadgen}, [:binary, :exit_status, {:line, 1_000_000}, args: Enum.map(args, &to_string/1)])
  end

  defp await_event(lg, event, timeout \\ 600_000) do
    receive do
      {^lg, {:data, {:eol, line}}} ->
        case Realtime.JSON.decode(line) do
          {:ok, %{"event" => ^event} = e} -> e
          _ -> await_event(lg, event, timeout)
        end

      {^lg, {:exit_status, status}} ->
        raise "the load generator exited (#{status}) waiting for #{event}"
    after
      timeout -> raise "no #{event} from the load generator"
    end
  end

  defp finish(lg) do
    Port.command(lg, "stop\n")
    await_event(lg, "done")
  end

  defp settle(node) do
    # Sessions stay resumable for the resume window (2 s here) after their
    # sockets close.
    Process.sleep(3_000)
    AppNode.command(node, "gc")
    AppNode.command(node, "stats")
  end

  defp connections(node, steps) do
    IO.puts("\n## connections: idle, identified, heartbeating sessions")
    IO.puts(row(["sessions", "connect all", "READY p50/p99", "BEAM processes/session", "resident/session", "total BEAM memory"]))

    Enum.map(steps, fn n ->
      before = settle(node)
      lg = loadgen(~w(--mode connect --hold 600 --sessions #{n} --port #{node.http}))
      c = await_event(lg, "connected")
      AppNode.command(node, "gc")
      at = AppNode.command(node, "stats")
      procs = (at["processes"] - before["processes"]) / c["sessions"]
      rss = (at["rss"] - before["rss"]) / c["sessions"]
      IO.puts(row([c["sessions"], "#{fmt(c["seconds"])} s", "#{c["ready_latency"]["p50_ms"]}/#{c["ready_latency"]["p99_ms"]} ms", kb(procs), kb(rss), mb(at["total"])]))
      finish(lg)
      procs
    end)
    |> List.last()
  end

  defp storm(node, n) do
    settle(node)
    lg = loadgen(~w(--mode storm --sessions #{n} --port #{node.http}))
    s = await_event(lg, "storm")
    await_event(lg, "done")
    IO.puts("\n## identify storm: #{s["ready"]} of #{n} sessions identify at once")
    IO.puts("#{fmt(s["identify_per_s"])} identifies/s; READY p50 #{s["ready_latency"]["p50_ms"]} ms, p99 #{s["ready_latency"]["p99_ms"]} ms")
    s
  end

  defp fanout(node, o) do
    channel = Synthetic.channel_id(0, 0)
    IO.puts("\n## fanout: one guild of #{o.members} members, REST publisher at rising rates (#{o.step} s each)")
    IO.puts(row(["connected", "posts/s", "delivered/s", "p50", "p99", "p999", "scheduler use (normal)"]))

    results =
      for n <- o.fanout do
        settle(node)
        lg = loadgen(~w(--mode fanout --sessions #{n} --step #{o.step} --publishers 4 --port #{node.http} --rates #{Enum.join(o.rates, ",")} --channel #{channel} --bot-token #{@bot}))
        await_event(lg, "connected")

        steps =
          for _ <- o.rates do
            %{"rate" => rate} = await_event(lg, "step_begin")
            AppNode.command(node, "sched_begin")
            r0 = AppNode.command(node, "reductions")
            s = await_event(lg, "step")
            util = AppNode.command(node, "sched_end")
            work = AppNode.command(node, "reductions") |> Map.new(fn {k, v} -> {k, (v - Map.get(r0, k, 0)) / max(s["delivered"], 1)} end)
            Process.put({:work, n, rate}, work)
            normal = for %{"kind" => "normal", "u" => u} <- util["utilization"], do: "#{round(u * 100)}%"
            l = s["latency"]
            IO.puts(row([n, rate, round(s["delivered_per_s"]), "#{l["p50_ms"]} ms", "#{l["p99_ms"]} ms", "#{l["p999_ms"]} ms", Enum.join(normal, " ")]))
            %{connected: n, rate: rate, delivered_per_s: s["delivered_per_s"], p99: l["p99_ms"], complete: s["delivered"] == s["expected"]}
          end

        await_event(lg, "done")
        steps
      end
      |> List.flatten()

    # Where the work went, at the largest size and rate: reductions per
    # delivered event by kind of process.
    work = Process.get({:work, List.last(o.fanout), List.last(o.rates)})
    top = work |> Enum.sort_by(&elem(&1, 1), :desc) |> Enum.take(6) |> Enum.map_join(", ", fn {k, v} -> "#{k} #{fmt(v)}" end)
    IO.puts("reductions per delivered event (#{List.last(o.fanout)} connected, #{List.last(o.rates)} posts/s): #{top}")
    last = for r <- results, r.connected == List.last(o.fanout), do: r
    case last |> Enum.filter(&(&1.p99 <= @knee_p99_ms and &1.complete)) |> Enum.map(& &1.rate) do
      [] -> IO.puts("knee at #{List.last(o.fanout)} connected: none of the rates kept p99 ≤ #{@knee_p99_ms} ms")
      rates -> IO.puts("knee at #{List.last(o.fanout)} connected: #{Enum.max(rates)} posts/s (p99 ≤ #{@knee_p99_ms} ms, every event delivered)")
    end

    knee = last |> Enum.filter(&(&1.p99 <= @knee_p99_ms and &1.complete)) |> Enum.map(& &1.rate) |> Enum.max(fn -> hd(o.rates) end)
    {results, knee}
  end

  # The ceiling: a minimal Cowboy broadcaster in its own OS process.
  defp ceiling(n, o) do
    size = frame_size()
    {port, http} = start_ceiling()
    IO.puts("\n## ceiling: a bare Cowboy broadcaster, #{n} sessions, #{size}-byte frames (#{o.step} s each)")
    lg = loadgen(~w(--mode listen --sessions #{n} --port #{http}))
    await_event(lg, "connected")
    IO.puts(row(["frames/s", "delivered/s", "p50", "p99"]))

    best =
      for rate <- o.ceiling_rates do
        Port.command(lg, "mark\n")
        await_event(lg, "mark")
        Port.command(port, "broadcast #{rate} #{o.step} #{size}\n")
        await_ceiling(port)
        Process.sleep(1_000)
        Port.command(lg, "mark\n")
        m = await_event(lg, "mark")
        IO.puts(row([rate, round(m["delivered"] / o.step), "#{m["latency"]["p50_ms"]} ms", "#{m["latency"]["p99_ms"]} ms"]))
        m["delivered"] / o.step
      end
      |> Enum.max()

    finish(lg)
    Port.close(port)
    best
  end

  defp await_ceiling(port) do
    receive do
      {^port, {:data, {:eol, "CEILING-DONE" <> _}}} -> :ok
      {^port, {:data, _}} -> await_ceiling(port)
    after
      600_000 -> raise "the ceiling server did not finish"
    end
  end

  # The size of the MESSAGE_CREATE frames our publisher's posts become.
  defp frame_size do
    {:ok, author} = Realtime.Directory.user(1_000_000_000_000_000_001)
    member = %{user_id: author.id, roles: [], nick: nil, joined_at: "2024-06-01T00:00:00.000000+00:00"}
    msg = %{id: Realtime.Snowflake.next(), channel_id: 1, guild_id: 1, author: author, member: member, content: "load", nonce: "1700000000000000", reactions: []}
    d = Realtime.Gateway.Payloads.message(msg)
    byte_size(Realtime.JSON.encode(%{"op" => 0, "d" => d, "s" => 1, "t" => "MESSAGE_CREATE"}))
  end

  @ceiling ~S"""
  defmodule Ceiling.Handler do
    def init(req, _), do: {:cowboy_websocket, req, nil, %{idle_timeout: :infinity}}
    def websocket_init(s), do: {[{:text, ~s({"op":10,"d":{"heartbeat_interval":41250},"s":null,"t":null})}], s}

    def websocket_handle({:text, data}, s) do
      cond do
        String.contains?(data, ~s("op":2)) ->
          :ets.insert(:ceiling, {self(), :erlang.phash2(self(), :erlang.system_info(:schedulers_online))})
          {[{:text, ~s({"op":0,"d":{"session_id":"ceiling"},"s":1,"t":"READY"})}], s}
        String.contains?(data, ~s("op":1)) -> {[{:text, ~s({"op":11,"d":null,"s":null,"t":null})}], s}
        true -> {[], s}
      end
    end

    def websocket_handle(_, s), do: {[], s}
    def websocket_info({:frame, bin}, s), do: {[{:text, bin}], s}
  end

  defmodule Ceiling.Relay do
    def loop(pids) do
      receive do
        {:event, bin} -> Enum.each(pids, &send(&1, {:frame, bin})); loop(pids)
        :stop -> :ok
      end
    end
  end

  defmodule Ceiling do
    def broadcast(rate, secs, size) do
      relays = for k <- 0..(:erlang.system_info(:schedulers_online) - 1), do: spawn(fn -> Ceiling.Relay.loop(for {p, ^k} <- :ets.tab2list(:ceiling), do: p) end)
      gap = 1_000_000 / rate
      t0 = System.monotonic_time(:microsecond)
      n = round(rate * secs)
      for i <- 0..(n - 1) do
        wait = round(t0 + i * gap - System.monotonic_time(:microsecond))
        if wait > 1000, do: Process.sleep(div(wait, 1000))
        head = ~s({"op":0,"d":{"nonce":"#{System.os_time(:microsecond)}","content":")
        tail = ~s("},"s":#{i + 2},"t":"MESSAGE_CREATE"})
        bin = head <> String.duplicate("x", max(size - byte_size(head) - byte_size(tail), 0)) <> tail
        Enum.each(relays, &send(&1, {:event, bin}))
      end
      Enum.each(relays, &send(&1, :stop))
      n
    end
  end

  Application.ensure_all_started(:cowboy)
  :ets.new(:ceiling, [:named_table, :public, :set])
  dispatch = :cowboy_router.compile([{:_, [{"/", Ceiling.Handler, []}]}])
  {:ok, _} = :cowboy.start_clear(:ceiling, %{socket_opts: [ip: {127, 0, 0, 1}, port: 0], max_connections: :infinity, num_acceptors: 4}, %{env: %{dispatch: dispatch}})
  IO.puts("CEILING-READY #{:ranch.get_port(:ceiling)}")
  Stream.repeatedly(fn -> IO.gets("") end)
  |> Stream.take_while(&is_binary/1)
  |> Enum.each(fn line ->
    ["broadcast", rate, secs, size] = String.split(line)
    n = Ceiling.broadcast(String.to_integer(rate), String.to_integer(secs), String.to_integer(size))
    IO.puts("CEILING-DONE #{n}")
  end)
  """

  defp start_ceiling do
    paths = Path.wildcard(Path.join(@root, "_vendor/*/ebin")) |> Enum.flat_map(&["-pa", &1])
    elixir = System.find_executable("elixir")
    port = Port.open({:spawn_executable, elixir}, [:binary, {:line, 65_536}, args: ["--erl", "+Q 65536"] ++ paths ++ ["-e", @ceiling]])

    receive do
      {^port, {:data, {:eol, "CEILING-READY " <> http}}} -> {port, String.to_integer(http)}
    after
      60_000 -> raise "the ceiling server did not start"
    end
  end

  defp slow(node, o, knee) do
    n = hd(o.fanout)
    rate = max(round(knee * 0.8), 1)
    IO.puts("\n## slow clients: #{n} connected, #{rate} posts/s (80% of the knee), #{o.slow}% stop reading")
    IO.puts(row(["run", "others' delivered/s", "p50", "p99", "closed", "BEAM memory after"]))
    channel = Synthetic.channel_id(0, 0)

    for {name, pct} <- [{"none slow", 0}, {"#{o.slow}% slow", o.slow}, {"none slow", 0}] do
      settle(node)
      lg = loadgen(~w(--mode fanout --sessions #{n} --step #{o.step * 2} --publishers 4 --port #{node.http} --rates #{rate} --channel #{channel} --bot-token #{@bot} --slow-percent #{pct}))
      s = await_event(lg, "step")
      await_event(lg, "done")
      stats = AppNode.command(node, "stats")
      IO.puts(row([name, round(s["delivered_per_s"]), "#{s["latency"]["p50_ms"]} ms", "#{s["latency"]["p99_ms"]} ms", s["closed"], mb(stats["total"])]))
    end
  end

  defp row(cols), do: cols |> Enum.map(&to_string/1) |> Enum.map_join(" ", &String.pad_trailing(&1, 22))
  defp fmt(x), do: :io_lib.format("~.2f", [x / 1]) |> to_string()
  defp kb(bytes), do: "#{fmt(bytes / 1024)} KB"
  defp mb(bytes), do: "#{fmt(bytes / 1_048_576)} MB"
end

Bench.Load.run(System.argv())
