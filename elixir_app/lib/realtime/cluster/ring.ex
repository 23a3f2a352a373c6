defmodule Realtime.Cluster.Ring do
  @moduledoc """
  The cluster's current hash ring, published through `:persistent_term`, so
  that any process finds a guild's owner node without asking another
  process.

  `Realtime.Cluster.Membership` is the only writer; it publishes a new ring
  when the member list changes. Updating a `:persistent_term` makes the VM
  scan every process for the old value, which is acceptable for membership
  changes (rare) and is why the ring is never published on a hot path.
  """

  alias Realtime.HashRing

  @key {__MODULE__, :ring}

  @doc "Publishes the ring for `members` (sorted first, so every node builds the same one); `[]` for none."
  @spec publish([node]) :: HashRing.t()
  def publish(members) do
    ring = members |> Enum.sort() |> HashRing.new()
    :persistent_term.put(@key, ring)
    ring
  end

  @doc "The current ring. Before anything is published, a ring of this node alone."
  @spec current() :: HashRing.t()
  def current do
    case :persistent_term.get(@key, nil) do
      nil -> publish([node()])
      ring -> ring
    end
  end

  @doc "The node that owns guild `guild_id` on the current ring; `nil` when no node may own guilds (no majority)."
  @spec owner(integer) :: node | nil
  def owner(guild_id), do: HashRing.find_node(current(), guild_id)

  @doc "The nodes that own guilds now."
  @spec members() :: [node]
  def members, do: HashRing.nodes(current())
end
