# mix bench gateway
#
# 1. Identify→READY latency over 1,000 WebSocket connections (loopback, Gun
#    clients in this VM), p50 and p99, with the heartbeat→ACK round trip on
#    the same connections as the baseline (the floor of any request/answer).
# 2. Memory per idle session for no compression, zlib-stream and
#    zstd-stream, with the ratio to no compression: the server's processes
#    (socket + session), and the whole OS process's resident memory growth
#    less the Gun client processes (this catches zlib's and zstd's own C
#    allocations, which neither :erlang.memory/0 nor the NIF counter see).

defmodule Bench.GatewayScript do
  alias Realtime.{Bench, JSON}

  @token "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @n 1_000

  def run do
    {:ok, _} = Application.ensure_all_started(:gun)
    ref = :bench_gateway
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, {Realtime.Gateway.Listener, port: 0, ref: ref})
    port = Realtime.Gateway.Listener.port(ref)

    {ready, beat, conns} = latency(port)
    IO.puts("\n## Identify→READY over #{@n} connections")
    IO.puts("heartbeat→ACK (baseline)  p50 #{Bench.fmt(p(beat, 50))}  p99 #{Bench.fmt(p(beat, 99))}")

    IO.puts(
      "IDENTIFY→READY            p50 #{Bench.fmt(p(ready, 50))}  p99 #{Bench.fmt(p(ready, 99))}  " <>
        "(#{Bench.ratio(p(ready, 50), p(beat, 50))} the baseline at p50)"
    )

    close_all(conns)

    IO.puts("\n## Memory per idle session (#{@n} sessions)")
    IO.puts("(resident growth is coarse: the VM reuses memory it already holds, so read it for the compression contexts' size)")
    base = memory(port, nil, ref)

    for {mode, m} <- [{"none", base}, {"zlib-stream", memory(port, "zlib-stream", ref)}, {"zstd-stream", memory(port, "zstd-stream", ref)}] do
      IO.puts(
        "#{String.pad_trailing(mode, 12)} server processes #{round(m.procs)} B; resident growth less clients #{round(m.total)} B " <>
          "(#{Bench.ratio(m.total, base.total)} no compression)"
      )
    end
  end

  defp p(list, pct), do: Bench.percentile(Enum.sort(list), pct)

  defp connect(port, compress) do
    qs = "/?v=10&encoding=json" <> if(compress, do: "&compress=#{compress}", else: "")
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    ref = :gun.ws_upgrade(conn, String.to_charlist(qs))
    receive do: ({:gun_upgrade, ^conn, ^ref, _, _} -> :ok), after: (5_000 -> raise "no upgrade")
    # HELLO
    frame(conn)
    conn
  end

  defp frame(conn) do
    receive do
      {:gun_ws, ^conn, _, f} -> f
    after
      10_000 -> raise "no frame"
    end
  end

  defp identify(conn) do
    d = %{"token" => @token, "intents" => 513, "properties" => %{"os" => "linux", "browser" => "bench", "device" => "bench"}}
    :gun.ws_send(conn, {:text, JSON.encode(%{"op" => 2, "d" => d})})
  end

  # READY, then one GUILD_CREATE per guild.
  defp await_ready_and_guilds(conn), do: for(_ <- 1..3, do: frame(conn))

  defp latency(port) do
    conns = for _ <- 1..@n, do: connect(port, nil)

    ready =
      for conn <- conns do
        t0 = System.monotonic_time(:nanosecond)
        identify(conn)
        {:text, first} = frame(conn)
        t = System.monotonic_time(:nanosecond) - t0
        true = first =~ ~s("t":"READY")
        frame(conn)
        frame(conn)
        t
      end

    beat =
      for conn <- conns do
        t0 = System.monotonic_time(:nanosecond)
        :gun.ws_send(conn, {:text, ~s({"op":1,"d":null})})
        frame(conn)
        System.monotonic_time(:nanosecond) - t0
      end

    {ready, beat, conns}
  end

  defp close_all(conns) do
    Enum.each(conns, &:gun.shutdown/1)
    wait_sessions_gone(200)
  end

  defp wait_sessions_gone(0), do: :ok

  defp wait_sessions_gone(tries) do
    if DynamicSupervisor.count_children(Realtime.Gateway.SessionSupervisor).active == 0,
      do: :ok,
      else: Process.sleep(50) && wait_sessions_gone(tries - 1)
  end

  defp memory(port, compress, ref) do
    # Sessions of dropped sockets wait out the resume window; end them.
    for {_, pid, _, _} <- DynamicSupervisor.which_children(Realtime.Gateway.SessionSupervisor), do: Realtime.Gateway.Session.close(pid)
    wait_sessions_gone(200)
    :erlang.garbage_collect()
    rss0 = rss()
    conns = for _ <- 1..@n, do: connect(port, compress)

    for conn <- conns do
      identify(conn)
      await_ready_and_guilds(conn)
    end

    sockets = :ranch.procs(ref, :connections)
    sessions = for {_, pid, _, _} <- DynamicSupervisor.which_children(Realtime.Gateway.SessionSupervisor), do: pid
    Enum.each(sockets ++ sessions, &:erlang.garbage_collect/1)
    Enum.each(conns, &:erlang.garbage_collect/1)
    procs = Enum.sum(for pid <- sockets ++ sessions, {:memory, m} = Process.info(pid, :memory), do: m)
    clients = Enum.sum(for pid <- conns, {:memory, m} = Process.info(pid, :memory), do: m)
    growth = rss() - rss0 - clients
    close_all(conns)
    %{procs: procs / @n, total: growth / @n}
  end

  defp rss do
    "/proc/self/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        ["VmRSS:", kb, "kB"] -> String.to_integer(kb) * 1024
        _ -> nil
      end
    end)
  end
end

Bench.GatewayScript.run()
