# MIX_ENV=test mix bench cluster_recovery [SESSIONS]
#
# Recovery after the node that owns a guild is killed with SIGKILL. Three
# nodes run the whole application on a throwaway PostgreSQL (this script
# starts and stops it). SESSIONS gateway sessions (default 10,000) live on a
# node that does not own the guild, each attached to a stand-in socket (no
# WebSocket). The owner is killed; the figure is the time from the kill
# until every session has sent its client a GUILD_CREATE for the guild
# again, and the longest mailbox seen meanwhile on the guild's new process
# (sampled every 10 ms).
#
# Runs in the test environment because it uses the test support for peers
# and PostgreSQL (test/support/). The baseline is the same recovery with
# 100 sessions, in the same run.

defmodule Bench.ClusterRecoveryScript do
  alias Realtime.Test.{ClusterPeers, PostgresServer}

  @hq 1_100_000_000_000_000_001
  @demo_user 1_000_000_000_000_000_001

  def run(args) do
    sessions = String.to_integer(List.first(args) || "10000")
    server = PostgresServer.start()

    try do
      for n <- [100, sessions] do
        %{recovery_ms: ms, p50_ms: p50, peak_mailbox: peak, new_owner_started_ms: started} = round(server, n)

        IO.puts(
          "#{String.pad_leading(Integer.to_string(n), 6)} sessions: every GUILD_CREATE back after #{ms} ms (median session #{p50} ms); " <>
            "guild running again after #{started} ms; peak mailbox of the new guild process #{peak}"
        )
      end
    after
      PostgresServer.stop(server)
    end
  end

  defp round(server, n) do
    db = "recovery_#{System.unique_integer([:positive])}"
    PostgresServer.psql!(server, "CREATE DATABASE #{db}")
    url = String.replace(server.url, "dbname=postgres", "dbname=#{db}")
    suffix = System.unique_integer([:positive])
    names = for i <- 1..3, do: :"rec#{i}_#{suffix}_#{System.pid()}@127.0.0.1"

    for name <- names do
      {_peer, node} = ClusterPeers.start!(name |> Atom.to_string() |> String.split("@") |> hd())
      env = [store: {Realtime.Store.Postgres, %{url: url}}, cluster_nodes: names, listener: false, resume_window: 60_000]
      :ok = ClusterPeers.start_app!(node, env, 0, 0)
    end

    all = Enum.sort(names)
    for n <- names, do: ClusterPeers.eventually(fn -> :erpc.call(n, Realtime.Cluster.Membership, :members, []) == all end, 30_000, "the mesh")
    owner = :erpc.call(hd(names), Realtime.Cluster.Ring, :owner, [@hq])
    ClusterPeers.eventually(fn -> match?({:ok, _}, :erpc.call(owner, Realtime.Guild.Placement, :lookup_local, [@hq])) end, 30_000, "the guild")
    [home | _] = names -- [owner]
    hq = Integer.to_string(@hq)

    sockets = :erpc.call(home, ClusterPeers, :start_sessions, [n, @demo_user, self()], 120_000)
    await(MapSet.new(sockets), hq, 1, 120_000)

    t0 = System.os_time(:microsecond)
    :ok = ClusterPeers.kill9(owner)
    survivors = names -- [owner]
    sampler = Task.async(fn -> sample(survivors, 0, nil, t0) end)
    backs = await(MapSet.new(sockets), hq, 2, 120_000)
    {peak, started} = Task.await(send(sampler.pid, :stop) && sampler, 10_000)
    for n <- survivors, do: :erpc.call(n, :init, :stop, [])
    delays = backs |> Enum.map(&div(&1 - t0, 1000)) |> Enum.sort()
    %{recovery_ms: List.last(delays), p50_ms: Enum.at(delays, div(length(delays), 2)), peak_mailbox: peak, new_owner_started_ms: started}
  end

  # Times at which each socket saw its `count`th GUILD_CREATE of `guild`.
  defp await(waiting, guild, count, timeout, acc \\ []) do
    if MapSet.size(waiting) == 0 do
      acc
    else
      receive do
        {:guild_create, socket, ^guild, ^count, at} -> await(MapSet.delete(waiting, socket), guild, count, timeout, [at | acc])
        {:guild_create, _, _, _, _} -> await(waiting, guild, count, timeout, acc)
      after
        timeout -> raise "#{MapSet.size(waiting)} sessions never got GUILD_CREATE number #{count}"
      end
    end
  end

  # The longest mailbox of the guild's process on the survivors, and when it
  # first ran again (ms after the kill).
  defp sample(nodes, peak, started, t0) do
    receive do
      :stop -> {peak, started}
    after
      10 ->
        lens =
          for n <- nodes, {:ok, pid} <- [:erpc.call(n, Realtime.Guild.Placement, :lookup_local, [@hq])] do
            {:message_queue_len, len} = :erpc.call(n, Process, :info, [pid, :message_queue_len])
            len
          end

        started = started || (lens != [] && div(System.os_time(:microsecond) - t0, 1000)) || nil
        sample(nodes, Enum.max([peak | lens]), started, t0)
    end
  end
end

Bench.ClusterRecoveryScript.run(System.argv())
