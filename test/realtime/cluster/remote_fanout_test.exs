defmodule Realtime.Cluster.RemoteFanoutTest do
  use ExUnit.Case, async: false

  alias Realtime.{Bitmap, Fanout}
  alias Realtime.Fanout.{Relay, Remote}
  alias Realtime.Test.ClusterPeers

  @per_node 40
  @events 300

  test "split keeps each pid's order and sends each pid to one shard" do
    pids = for _ <- 1..50, do: spawn(fn -> :ok end)
    split = Relay.split(pids ++ pids, 4)
    for {i, list} <- split, pid <- list, do: assert(:erlang.phash2(pid, 4) == i)
    assert split |> Enum.flat_map(&elem(&1, 1)) |> Enum.sort() == Enum.sort(pids ++ pids)
  end

  test "one distribution message per node with recipients, and every remote recipient gets every event in order" do
    suffix = System.unique_integer([:positive])
    nodes = for i <- 1..2, do: elem(ClusterPeers.start!("fanout#{i}_#{suffix}"), 1)
    for n <- nodes, do: :ok = :erpc.call(n, ClusterPeers, :start_detached, [Realtime.Fanout.Supervisor])

    local = ClusterPeers.spawn_recorders(@per_node)
    remote_pids = for n <- nodes, do: :erpc.call(n, ClusterPeers, :spawn_recorders, [@per_node])
    everyone = local ++ List.flatten(remote_pids)

    table = Fanout.new()
    {remote, _} =
      Enum.reduce(everyone, {Remote.new(), 0}, fn
        pid, {remote, slot} when node(pid) == node() -> Fanout.put(table, slot, pid) && {remote, slot + 1}
        pid, {remote, slot} -> {Remote.put(remote, slot, pid), slot + 1}
      end)

    all = Bitmap.from_list(Enum.to_list(0..(length(everyone) - 1)))
    # Only the local recipients and those of the first peer.
    first_two = Bitmap.from_list(Enum.to_list(0..(2 * @per_node - 1)))

    before = Map.new(nodes, &{&1, ClusterPeers.sent_to(&1)})

    for i <- 1..@events do
      bitmap = if rem(i, 3) == 0, do: first_two, else: all
      n = Fanout.send(table, bitmap, {:event, i}) + Remote.send(remote, bitmap, {:event, i})
      assert n == Bitmap.size(bitmap)
    end

    [to_first, to_second] = for n <- nodes, do: ClusterPeers.sent_to(n) - before[n]
    # Every event goes to the first peer in one message; a third of them
    # skip the second peer, which has no recipient for them.
    assert to_first == @events
    assert to_second == @events - div(@events, 3)

    Fanout.sync()
    for n <- nodes, do: :erpc.call(n, Realtime.Fanout, :sync, [])
    for n <- nodes, do: :erpc.call(n, GenServer, :call, [Relay, :sync])
    for n <- nodes, do: :erpc.call(n, Realtime.Fanout, :sync, [])

    all_events = for i <- 1..@events, do: {:event, i}
    second_gets = for i <- 1..@events, rem(i, 3) != 0, do: {:event, i}
    [first_peer, second_peer] = remote_pids

    for pid <- local ++ first_peer, do: assert(ClusterPeers.dump(pid) == all_events)
    for pid <- second_peer, do: assert(ClusterPeers.dump(pid) == second_gets)

    # Unbinding a node's last slot forgets the node.
    remote = Enum.reduce(@per_node..(2 * @per_node - 1), remote, &Remote.delete(&2, &1))
    assert Map.keys(remote.nodes) == [List.last(nodes)]
  end
end
