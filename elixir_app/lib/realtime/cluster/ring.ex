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

  @doc """
  Publishes the ring for `members` (sorted first, so every node builds the
  same one); `[]` for none. `:local` is a node with no cluster: it owns
  everything, whatever its name is now (a node may start distribution after
  this was published).
  """
  @spec publish([node] | :local) :: :ok
  def publish(:local), do: :persistent_term.put(@key, :local)
  def publish(members), do: :persistent_term.put(@key, members |> Enum.sort() |> HashRing.new())

  defp current, do: :persistent_term.get(@key, :local)

  @doc "The node that owns guild `guild_id` on the current ring; `nil` when no node may own guilds (no majority)."
  @spec owner(integer) :: node | nil
  def owner(guild_id) do
    case current() do
      :local -> node()
      ring -> HashRing.find_node(ring, guild_id)
    end
  end
end
