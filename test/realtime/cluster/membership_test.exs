defmodule Realtime.Cluster.MembershipTest do
  use ExUnit.Case, async: false

  alias Realtime.Cluster.{Membership, Ring}
  alias Realtime.Test.ClusterPeers

  @guilds Enum.to_list(1_000_000_000_000_000_000..1_000_000_000_000_001_999)

  describe "owners/2" do
    test "a majority of the configured nodes owns guilds; a minority, or half, owns none" do
      assert Membership.owners([:a], 1) == [:a]
      assert Membership.owners([:a, :b], 3) == [:a, :b]
      assert Membership.owners([:c], 3) == []
      assert Membership.owners([:a, :b], 4) == []
      assert Membership.owners([:a, :b, :c], 4) == [:a, :b, :c]
    end
  end

  describe "members_of/3" do
    test "this node and the connected candidates, sorted, whatever else is connected" do
      assert Membership.members_of(:b@h, [:a@h, :c@h, :d@h], [:c@h, :runner@h, :a@h]) == [:a@h, :b@h, :c@h]
      assert Membership.members_of(:b@h, [:b@h, :a@h], []) == [:b@h]
    end
  end

  defp start_member(name, names) do
    {peer, node} = ClusterPeers.start!(name)
    {:ok, _} = :erpc.call(node, GenServer, :start, [Membership, [nodes: names, reconnect_ms: 100, ready: true], [name: Membership]])
    {peer, node}
  end

  defp members(node), do: :erpc.call(node, Membership, :members, [])
  # An export fun, so the peer needs none of this test's code.
  defp owners(node), do: :erpc.call(node, Enum, :map, [@guilds, &Ring.owner/1])

  test "three nodes derive one ring, agree on every guild's owner, and follow a node's loss and return" do
    suffix = System.unique_integer([:positive])
    names = for i <- 1..3, do: :"ring#{i}_#{suffix}@127.0.0.1"
    [{_p1, n1}, {_p2, n2}, {p3, n3}] = for n <- names, do: start_member(n |> Atom.to_string() |> String.split("@") |> hd(), names)

    all = Enum.sort(names)
    for n <- names, do: ClusterPeers.eventually(fn -> members(n) == all end, 10_000, "all three see each other")

    placed = owners(n1)
    assert owners(n2) == placed and owners(n3) == placed
    counts = Enum.frequencies(placed)
    assert Map.keys(counts) |> Enum.sort() == all
    for n <- all, do: assert(counts[n] in 450..900, "uneven placement: #{inspect(counts)}")

    # The test runner is connected to all three (hidden) but is no member.
    assert node() in :erpc.call(n1, Node, :list, [:hidden])
    refute node() in members(n1)

    :peer.stop(p3)
    for n <- [n1, n2], do: ClusterPeers.eventually(fn -> members(n) == Enum.sort([n1, n2]) end, 10_000, "n3 leaves")
    after_loss = owners(n1)
    assert owners(n2) == after_loss
    # Only n3's guilds move; each lands on a survivor.
    for {before, now} <- Enum.zip(placed, after_loss) do
      if before == n3, do: assert(now in [n1, n2]), else: assert(now == before)
    end

    {_p3, ^n3} = start_member(n3 |> Atom.to_string() |> String.split("@") |> hd(), names)
    for n <- names, do: ClusterPeers.eventually(fn -> members(n) == all end, 10_000, "n3 rejoins")
    assert owners(n3) == placed and owners(n1) == placed
  end
end
