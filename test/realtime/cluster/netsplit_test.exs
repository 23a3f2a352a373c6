defmodule Realtime.Cluster.NetsplitTest do
  @moduledoc """
  A real netsplit: three nodes of the whole application, each in its own
  network namespace, on one PostgreSQL (over its Unix socket, which every
  namespace reaches). The link of the node that owns a guild is taken down
  and brought back up.
  """
  use ExUnit.Case, async: false

  alias Realtime.Test.{Netns, PostgresServer}

  @hq 1_100_000_000_000_000_001
  @general 1_100_000_000_000_000_101
  @demo_user 1_000_000_000_000_000_001

  setup_all do
    server = PostgresServer.start()
    db = "netsplit_#{System.unique_integer([:positive])}"
    PostgresServer.psql!(server, "CREATE DATABASE #{db}")
    net = Netns.create!(3)

    on_exit(fn ->
      Netns.delete(net)
      PostgresServer.stop(server)
    end)

    {:ok, net: net, url: String.replace(server.url, "dbname=postgres", "dbname=#{db}")}
  end

  defp call(peer, m, f, a), do: :peer.call(peer, m, f, a, 30_000)

  defp eventually(fun, what, ms \\ 30_000) do
    deadline = System.monotonic_time(:millisecond) + ms

    Stream.repeatedly(fn -> fun.() || (Process.sleep(100) && nil) end)
    |> Enum.find(fn result -> result || System.monotonic_time(:millisecond) > deadline end) ||
      flunk("#{what} did not happen within #{ms} ms")
  end

  defp running(peers, guild), do: for({node, peer} <- peers, match?({:ok, _}, call(peer, Realtime.Guild.Placement, :lookup_local, [guild])), do: node)

  defp post(peer, content) do
    {:ok, pid} = call(peer, Realtime.Guild.Placement, :lookup, [@hq])
    call(peer, Realtime.Guild, :create_message, [pid, @general, @demo_user, content])
  end

  defp stored(peer) do
    {:ok, {rows, _}} = call(peer, Realtime.Store, :read, [{:page, @general, :latest, 100}])
    MapSet.new(rows, &elem(&1, 0))
  end

  test "the cut-off owner cannot write, the majority takes over, and after healing there is one process per guild", %{net: net, url: url} do
    cookie = "netsplit#{System.unique_integer([:positive])}"
    names = for i <- 1..3, do: :"rt#{i}@#{Netns.address(i)}"

    peers =
      for i <- 1..3 do
        {peer, node} = Netns.start_node!(net, i, "rt#{i}", cookie)
        env = [store: {Realtime.Store.Postgres, %{url: url}}, cluster_nodes: names, listener: false]
        for {k, v} <- env, do: :ok = call(peer, Application, :put_env, [:realtime, k, v])
        {:ok, _} = call(peer, Application, :ensure_all_started, [:realtime])
        {node, peer}
      end

    peer = Map.new(peers)
    all = Enum.sort(names)
    eventually(fn -> Enum.all?(peers, fn {_, p} -> call(p, Realtime.Cluster.Membership, :members, []) == all end) end, "the mesh")
    eventually(fn -> length(running(peers, @hq)) == 1 end, "one guild process")
    [owner] = running(peers, @hq)
    {:ok, before} = post(peer[owner], "before the split")
    {:ok, {_, epoch}} = call(peer[owner], Realtime.Store, :read, [{:lease, @hq}])

    # Cut the owner off.
    index = Enum.find_index(names, &(&1 == owner)) + 1
    :ok = Netns.cut(net, index)
    majority = Map.delete(peer, owner)

    # The majority takes the guild over under a newer lease; the minority,
    # without a majority, runs no guild at all.
    eventually(fn -> match?([_], running(majority, @hq)) end, "the majority taking the guild over")
    [new_owner] = running(majority, @hq)
    new_owner_name = Atom.to_string(new_owner)
    assert {:ok, {^new_owner_name, later}} = call(peer[new_owner], Realtime.Store, :read, [{:lease, @hq}])
    assert later > epoch
    eventually(fn -> running(%{owner => peer[owner]}, @hq) == [] end, "the minority stopping its guild")
    assert call(peer[owner], Realtime.Guild.Placement, :lookup, [@hq]) == :error

    # Whatever the cut-off node still tries to store under its old lease is
    # refused, and nothing of it is stored.
    stale = [{:fence, @hq, epoch}, {:put, :messages, @general, 42, "stale"}]
    assert {:error, {:fenced, _}} = call(peer[owner], Realtime.Store, :write, [@hq, stale])

    {:ok, during} = post(peer[new_owner], "during the split")

    # Heal.
    :ok = Netns.heal(net, index)
    eventually(fn -> Enum.all?(peers, fn {_, p} -> call(p, Realtime.Cluster.Membership, :members, []) == all end) end, "the mesh again")

    for guild <- [@hq, 1_100_000_000_004_194_305] do
      eventually(fn -> match?([_], running(peers, guild)) end, "one process for guild #{guild}")
      [runs_on] = running(peers, guild)
      assert call(peer[runs_on], Realtime.Cluster.Ring, :owner, [guild]) == runs_on
      runs_on_name = Atom.to_string(runs_on)
      assert {:ok, {^runs_on_name, _}} = call(peer[runs_on], Realtime.Store, :read, [{:lease, guild}])
    end

    # Every acknowledged message is stored, the stale write is not, and the
    # guild serves what the store has.
    ids = stored(peer[owner])
    assert Enum.all?([before, during], &MapSet.member?(ids, String.to_integer(&1["id"])))
    refute MapSet.member?(ids, 42)
    [runs_on] = running(peers, @hq)
    {:ok, pid} = call(peer[runs_on], Realtime.Guild.Placement, :lookup, [@hq])
    {:ok, served} = call(peer[runs_on], Realtime.Guild, :messages, [pid, @general, @demo_user, :latest, 100])
    assert MapSet.new(served, &String.to_integer(&1["id"])) == ids
  end
end
