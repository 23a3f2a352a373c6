# mix bench store [ROUNDS] [SECONDS] [WRITERS] [HISTORY]
#
# What durability costs, measured in one run against the in-memory store
# (Realtime.Store.Memory: no I/O, what the application did before it had a
# store):
#
# 1. Acknowledged messages per second with WRITERS (100) concurrent writers
#    posting to one guild (Guild.create_message: a message is acknowledged
#    once the store has it), and the p50/p99 of one post, for the in-memory
#    store, SQLite with synchronous=NORMAL, SQLite with synchronous=FULL, and
#    PostgreSQL (a throwaway server this script starts). Runs are
#    interleaved (memory, normal, full, postgres, memory, ...), ROUNDS of
#    SECONDS each; ratios to the in-memory run of the same round, median and
#    spread.
# 2. The same through REST: p50/p99 of POST /channels/{id}/messages over
#    16 keep-alive connections (Gun in this VM), rate limits off.
# 3. A history page (100 messages, `before` a random id) from a channel of
#    HISTORY (1,000,000) messages, p50/p99, read and decoded as the REST
#    handler does, on SQLite and on PostgreSQL; against the in-memory cache
#    page of 100 that the application served before it had a store.

Code.require_file("../../test/support/postgres_server.ex", __DIR__)

defmodule Bench.StoreScript do
  alias Realtime.{Bench, Guild, JSON, Store}
  alias Realtime.Guild.{MessageCache, Placement, Rows}
  alias Realtime.Test.PostgresServer

  @hq 1_100_000_000_000_000_001
  @general 1_100_000_000_000_000_101
  @ada 1_200_000_000_000_000_001
  @token "MTAwMDAwMDAwMDAwMDAwMDAwMQ.RTdev0.demo-bot-dev-token-not-a-secret"

  def run(args) do
    [rounds, seconds, writers, history] =
      for {default, i} <- Enum.with_index([5, 2, 100, 1_000_000]), do: if(a = Enum.at(args, i), do: String.to_integer(a), else: default)

    Application.put_env(:realtime, :rest_rate_limits, %{enabled: false})
    {:ok, _} = Application.ensure_all_started(:gun)
    pg = PostgresServer.start()
    tmp = Path.join(System.tmp_dir!(), "realtime-bench-store-#{System.pid()}")
    File.rm_rf!(tmp)
    seed = Realtime.Seed.load()
    original = Store.handle()

    try do
      stores = [
        {"memory (baseline)", open(Store.Memory, %{}, seed)},
        {"SQLite NORMAL", open(Store.SQLite, %{path: Path.join(tmp, "normal.db"), synchronous: :normal}, seed)},
        {"SQLite FULL", open(Store.SQLite, %{path: Path.join(tmp, "full.db"), synchronous: :full}, seed)},
        {"PostgreSQL", open(Store.Postgres, %{url: pg.url}, seed)}
      ]

      writes(stores, rounds, seconds, writers)
      rest(stores, seconds)
      pages(Enum.drop(stores, 1) |> Enum.reject(&match?({"SQLite FULL", _}, &1)), history)
    after
      use_store(original)
      PostgresServer.stop(pg)
      File.rm_rf!(tmp)
    end
  end

  defp open(adapter, config, seed) do
    {:ok, store, _} = Store.open(adapter, config)
    :ok = Rows.import_once(store, seed.guilds)
    store
  end

  # Points the application at `store` and restarts the guild, which loads
  # itself from it.
  defp use_store(store) do
    :persistent_term.put({Store, :handle}, store)
    {:ok, pid} = Placement.lookup(@hq)
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    receive do: ({:DOWN, ^ref, _, _, _} -> :ok)
    wait_for_guild(pid, 500)
  end

  defp wait_for_guild(old, 0), do: raise("guild #{@hq} did not restart (was #{inspect(old)})")

  defp wait_for_guild(old, n) do
    case Placement.lookup(@hq) do
      {:ok, pid} when pid != old -> pid
      _ -> Process.sleep(10) && wait_for_guild(old, n - 1)
    end
  end

  defp writes(stores, rounds, seconds, writers) do
    IO.puts("\n## Acknowledged messages/s, #{writers} concurrent writers to one guild (#{rounds} interleaved rounds of #{seconds} s)")

    runs =
      for round <- 1..rounds, {name, store} <- stores do
        guild = use_store(store)
        {count, latencies} = storm(guild, writers, seconds)
        {round, name, count / seconds, latencies}
      end

    base = Map.new(for {round, "memory (baseline)", rate, _} <- runs, do: {round, rate})
    IO.puts(String.pad_trailing("store", 20) <> String.pad_trailing("msgs/s (median)", 18) <> String.pad_trailing("ratio to memory (median, spread)", 36) <> "post p50 / p99")

    for {name, _} <- stores do
      mine = for {round, ^name, rate, lat} <- runs, do: {rate, rate / base[round], lat}
      rates = mine |> Enum.map(&elem(&1, 0)) |> Enum.sort()
      ratios = mine |> Enum.map(&elem(&1, 1)) |> Enum.sort()
      lat = mine |> Enum.flat_map(&elem(&1, 2)) |> Enum.sort()

      IO.puts(
        String.pad_trailing(name, 20) <>
          String.pad_trailing("#{round(Bench.percentile(rates, 50))}", 18) <>
          String.pad_trailing("#{fmt(Bench.percentile(ratios, 50))}x (#{fmt(hd(ratios))}..#{fmt(List.last(ratios))})", 36) <>
          "#{Bench.fmt(Bench.percentile(lat, 50))} / #{Bench.fmt(Bench.percentile(lat, 99))}"
      )
    end
  end

  # `writers` processes post for `seconds`; returns how many posts were
  # acknowledged and a sample of their latencies (ns).
  defp storm(guild, writers, seconds) do
    deadline = System.monotonic_time() + System.convert_time_unit(seconds, :second, :native)
    parent = self()

    pids =
      for w <- 1..writers do
        spawn_link(fn -> send(parent, {:done, self(), post_loop(guild, w, deadline, 0, [])}) end)
      end

    results = for p <- pids, do: receive(do: ({:done, ^p, r} -> r))
    {results |> Enum.map(&elem(&1, 0)) |> Enum.sum(), Enum.flat_map(results, &elem(&1, 1))}
  end

  defp post_loop(guild, w, deadline, n, lat) do
    if System.monotonic_time() >= deadline do
      {n, lat}
    else
      t0 = System.monotonic_time()
      {:ok, _} = Guild.create_message(guild, @general, @ada, "writer #{w} message #{n} with some ordinary text in it")
      dt = System.convert_time_unit(System.monotonic_time() - t0, :native, :nanosecond)
      # Every 8th latency is kept: plenty for a p99, little memory.
      post_loop(guild, w, deadline, n + 1, if(rem(n, 8) == 0, do: [dt | lat], else: lat))
    end
  end

  defp rest(stores, seconds) do
    ref = :bench_store_rest
    {:ok, _} = Supervisor.start_child(Realtime.Supervisor, {Realtime.Gateway.Listener, port: 0, ref: ref})
    port = Realtime.Gateway.Listener.port(ref)
    IO.puts("\n## REST POST /channels/{id}/messages latency, 16 keep-alive connections, #{seconds} s per store")

    for {name, store} <- stores do
      use_store(store)
      parent = self()
      deadline = System.monotonic_time(:millisecond) + seconds * 1_000
      pids = for _ <- 1..16, do: spawn_link(fn -> send(parent, {:lat, self(), http_loop(port, deadline, [])}) end)
      lat = pids |> Enum.flat_map(fn p -> receive(do: ({:lat, ^p, l} -> l)) end) |> Enum.sort()

      IO.puts(
        "#{String.pad_trailing(name, 20)} #{round(length(lat) / seconds)} posts/s  p50 #{Bench.fmt(Bench.percentile(lat, 50))}  p99 #{Bench.fmt(Bench.percentile(lat, 99))}"
      )
    end

    Supervisor.terminate_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
    Supervisor.delete_child(Realtime.Supervisor, {:ranch_embedded_sup, ref})
  end

  defp http_loop(port, deadline, lat) do
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    lat = http_posts(conn, deadline, lat)
    :gun.close(conn)
    if System.monotonic_time(:millisecond) < deadline, do: http_loop(port, deadline, lat), else: lat
  end

  defp http_posts(conn, deadline, lat) do
    if System.monotonic_time(:millisecond) >= deadline do
      lat
    else
      body = JSON.encode(%{"content" => "a post over REST with some ordinary text in it"})
      headers = [{"authorization", "Bot " <> @token}, {"content-type", "application/json"}]
      t0 = System.monotonic_time()
      ref = :gun.post(conn, "/api/v10/channels/#{@general}/messages", headers, body)

      with {:response, :nofin, 200, _} <- :gun.await(conn, ref, 10_000),
           {:ok, _} <- :gun.await_body(conn, ref, 10_000) do
        http_posts(conn, deadline, [System.convert_time_unit(System.monotonic_time() - t0, :native, :nanosecond) | lat])
      else
        # The server closed the connection (its keep-alive limit): open another.
        {:error, _} -> lat
      end
    end
  end

  defp pages(stores, history) do
    IO.puts("\n## History page of 100 (before a random id) from a channel of #{history} messages")
    channel = 1_999_000_000_000_000_001
    template = sample_message(channel)
    first = 1_500_000_000_000_000_000

    # Before the store: the in-memory history of the old code, 1,000 messages.
    cache = MessageCache.new(1_000)
    for i <- 1..1_000, do: MessageCache.put_new(cache, %{template | id: first + i})
    base = sample_pages(fn -> MessageCache.page(cache, channel, {:before, first + 101 + :rand.uniform(899)}, 100) end)
    IO.puts("#{String.pad_trailing("memory cache (baseline, 1,000 held)", 38)} p50 #{Bench.fmt(p(base, 50))}  p99 #{Bench.fmt(p(base, 99))}")

    for {name, store} <- stores do
      t0 = System.monotonic_time(:millisecond)

      1..history
      |> Stream.chunk_every(5_000)
      |> Enum.each(fn ids -> :ok = Store.write(store, channel, for(i <- ids, do: Rows.message(%{template | id: first + i}))) end)

      filled = System.monotonic_time(:millisecond) - t0

      lat =
        sample_pages(fn ->
          {:ok, rows} = Store.read(store, {:page, channel, {:before, first + 101 + :rand.uniform(history - 100)}, 100})
          100 = length(Rows.messages(rows))
        end)

      IO.puts(
        "#{String.pad_trailing(name, 38)} p50 #{Bench.fmt(p(lat, 50))}  p99 #{Bench.fmt(p(lat, 99))}  (#{Bench.ratio(p(lat, 50), p(base, 50))} the baseline at p50; filled in #{filled} ms)"
      )
    end
  end

  defp sample_pages(fun) do
    for _ <- 1..50, do: fun.()

    for _ <- 1..2_000 do
      t0 = System.monotonic_time()
      fun.()
      System.convert_time_unit(System.monotonic_time() - t0, :native, :nanosecond)
    end
  end

  defp sample_message(channel) do
    {:ok, author} = Realtime.Directory.user(1_000_000_000_000_000_001)

    %{
      id: 0,
      channel_id: channel,
      guild_id: @hq,
      author: author,
      member: %{user_id: author.id, roles: [], nick: nil, joined_at: "2024-01-01T00:00:00.000000+00:00"},
      content: "a stored message of ordinary length, with a few words in it, like most chat messages are",
      mentions: %{users: [], roles: [], everyone: false},
      nonce: nil,
      reactions: []
    }
  end

  defp p(list, pct), do: list |> Enum.sort() |> Bench.percentile(pct)
  defp fmt(x), do: :io_lib.format("~.2f", [x]) |> to_string()
end

Bench.StoreScript.run(System.argv())
