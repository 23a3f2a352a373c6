# mix bench rest [ROUNDS] [SECONDS_PER_RUN] [CONNECTIONS]
#
# The REST overhead of rate limiting: requests per second with Discord-style
# rate limits counted (per-route bucket + global, headers on every answer;
# limits set out of reach so nothing is refused) against the same requests
# with limiting off, measured in one run.
#
# Load: CONNECTIONS keep-alive HTTP/1.1 connections (Gun, in this VM, so the
# client shares the machine's cores with the server in both cases), each
# sending requests one after another for SECONDS_PER_RUN. Runs alternate
# with and without limits (ABAB...), ROUNDS pairs, after a warm-up; the
# ratio is taken per adjacent pair and reported as its median and spread.
# Two routes: GET /users/@me (no guild involved: the limiter's share is
# largest) and GET /channels/{id}/messages?limit=1 (a call to the guild).
# The client parses the extra headers too, so its share of the cost is in
# the figure. Last, the limiter's own cost per call, without HTTP.

defmodule Bench.RestScript do
  @token "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"
  @general 1_100_000_000_000_000_101
  @on %{global: {1_000_000_000, 1_000}, default: {1_000_000_000, 1_000}, routes: %{}}
  @off %{enabled: false}

  def run(args) do
    [rounds, seconds, conns] =
      for {default, i} <- Enum.with_index([7, 2, 32]), do: if(a = Enum.at(args, i), do: String.to_integer(a), else: default)

    {:ok, _} = Application.ensure_all_started(:gun)
    ref = :bench_rest
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, {Realtime.Gateway.Listener, port: 0, ref: ref})
    port = Realtime.Gateway.Listener.port(ref)

    IO.puts("## REST requests/s, rate limiting on vs off (#{rounds} interleaved pairs of #{seconds} s, #{conns} connections)")

    for {name, path} <- [{"GET /users/@me", "/api/v10/users/@me"}, {"GET /channels/{id}/messages?limit=1", "/api/v10/channels/#{@general}/messages?limit=1"}] do
      # Warm-up, not counted.
      load(port, path, conns, 1, @off)
      load(port, path, conns, 1, @on)

      pairs =
        for _ <- 1..rounds do
          off = load(port, path, conns, seconds, @off)
          on = load(port, path, conns, seconds, @on)
          {on, off}
        end

      ratios = pairs |> Enum.map(fn {on, off} -> on / off end) |> Enum.sort()
      median = fn list -> list |> Enum.sort() |> Realtime.Bench.percentile(50) |> round() end

      IO.puts("""

      ### #{name}
      limiting off (baseline): median #{median.(Enum.map(pairs, &elem(&1, 1)))} req/s
      limiting on:             median #{median.(Enum.map(pairs, &elem(&1, 0)))} req/s
      throughput with limiting / without, per pair: median #{fmt(Realtime.Bench.percentile(ratios, 50))}, spread #{fmt(hd(ratios))}..#{fmt(List.last(ratios))}
      per-pair ratios: #{Enum.map_join(ratios, " ", &fmt/1)}
      """)
    end

    # What the limiter itself costs per request, without HTTP.
    Application.put_env(:realtime, :rest_rate_limits, @on)
    route = {"GET", "/users/@me"}

    Realtime.Bench.compare(
      "One rate-limit check (route bucket + global + headers), per call",
      {"one :ets.update_counter", fn _ -> :ets.update_counter(Realtime.WindowCounter, :bench, 1, {:bench, 0}) end},
      [{"RateLimit.check", fn _ -> Realtime.Gateway.Rest.RateLimit.check({:user, 1}, route, nil) end}]
    )

    Application.put_env(:realtime, :rest_rate_limits, @off)
  end

  defp fmt(x), do: :io_lib.format("~.3f", [x]) |> to_string()

  # Requests per second over `conns` connections for `seconds`.
  defp load(port, path, conns, seconds, limits) do
    Application.put_env(:realtime, :rest_rate_limits, limits)
    :ets.delete_all_objects(Realtime.WindowCounter)
    deadline = System.monotonic_time(:millisecond) + seconds * 1_000
    parent = self()

    workers = for _ <- 1..conns, do: spawn_link(fn -> send(parent, {:done, self(), worker(port, path, deadline, 0)}) end)

    total = Enum.sum(for w <- workers, do: receive(do: ({:done, ^w, n} -> n)))
    total / seconds
  end

  # One client: a keep-alive connection, opened again when the server
  # closes it (after its keep-alive limit), as bot libraries do.
  defp worker(port, path, deadline, n) do
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)

    case requests(conn, path, deadline, n) do
      {:done, n} -> :gun.close(conn) && n
      {:closed, n} -> worker(port, path, deadline, n)
    end
  end

  defp requests(conn, path, deadline, n) do
    if System.monotonic_time(:millisecond) >= deadline do
      {:done, n}
    else
      ref = :gun.get(conn, path, [{"authorization", "Bot " <> @token}])

      with {:response, :nofin, 200, _} <- :gun.await(conn, ref, 5_000),
           {:ok, _} <- :gun.await_body(conn, ref, 5_000) do
        requests(conn, path, deadline, n + 1)
      else
        {:error, _} -> {:closed, n}
      end
    end
  end
end

Bench.RestScript.run(System.argv())
