defmodule Realtime.Guild.Lease do
  @moduledoc """
  A guild's lease in the store: which node owns it, and the epoch that
  fences the writes of every earlier owner (see "Leases and fencing" in
  `Realtime.Store`).

  A guild takes the next epoch when it starts, before it loads its state, so
  that what it loads includes every write of the previous owner that will
  ever be stored. Each of its writes then carries `fence/2` first. If
  another node takes the lease (after a netsplit, say), the old owner's next
  write fails as fenced and stores nothing, and the old process stops.
  """

  alias Realtime.Store

  # Takers race only when two nodes disagree about the ring; a few rounds
  # settle it, and a bounded number keeps a stuck store from spinning.
  @attempts 5

  @doc """
  Takes guild `guild_id`'s lease for this node; returns the epoch, and the
  node that held it before if it was another (which may still run the
  guild and should hear of it: see `Realtime.Guild.Loader`).
  """
  @spec acquire(Store.handle(), integer) :: {:ok, pos_integer, node | nil} | {:error, Store.reason()}
  def acquire(store, guild_id), do: acquire(store, guild_id, Atom.to_string(node()), @attempts)

  defp acquire(store, guild_id, owner, attempts) do
    with {:ok, lease} <- Store.read(store, {:lease, guild_id}) do
      epoch = epoch(lease) + 1

      case Store.write(store, guild_id, [{:take_lease, guild_id, owner, epoch}]) do
        :ok -> {:ok, epoch, previous(lease, owner)}
        {:error, {:fenced, _}} when attempts > 1 -> acquire(store, guild_id, owner, attempts - 1)
        error -> error
      end
    end
  end

  defp epoch(nil), do: 0
  defp epoch({_owner, epoch}), do: epoch

  # Only a node this one has heard of can run anything: an unknown name is
  # not made into an atom.
  defp previous({other, _}, owner) when other != owner do
    String.to_existing_atom(other)
  rescue
    ArgumentError -> nil
  end

  defp previous(_lease, _owner), do: nil

  @doc "The op that makes a write fail unless the lease is still at `epoch`."
  @spec fence(integer, pos_integer) :: Store.op()
  def fence(guild_id, epoch), do: {:fence, guild_id, epoch}
end
